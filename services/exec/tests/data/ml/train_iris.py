"""Trains the ML connector tests' model and writes an MLServer model folder.

Usage: python train_iris.py DIR

Fits a scikit-learn LogisticRegression on the iris data set that ships with scikit-learn
(150 samples, 4 features in centimetres: sepal length, sepal width, petal length, petal
width; 3 classes), then writes DIR/iris/model.joblib and DIR/iris/model-settings.json. The
settings name the model `iris`, version `v1`, and declare its input `predict` (FP64, shape
[-1, 4]) so that the server's metadata lists it.
"""

import json
import sys
from pathlib import Path

import joblib
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression


def main() -> None:
    if len(sys.argv) != 2:
        sys.exit("usage: train_iris.py DIR")
    folder = Path(sys.argv[1]) / "iris"
    folder.mkdir(parents=True, exist_ok=True)

    features, labels = load_iris(return_X_y=True)
    model = LogisticRegression(max_iter=1000).fit(features, labels)
    joblib.dump(model, folder / "model.joblib")

    settings = {
        "name": "iris",
        "implementation": "mlserver_sklearn.SKLearnModel",
        "parameters": {"uri": "./model.joblib", "version": "v1"},
        "inputs": [{"name": "predict", "datatype": "FP64", "shape": [-1, 4]}],
        "outputs": [{"name": "predict", "datatype": "INT64", "shape": [-1, 1]}],
    }
    (folder / "model-settings.json").write_text(json.dumps(settings, indent=2) + "\n")
    print(f"training accuracy {model.score(features, labels):.3f}; wrote {folder}")


if __name__ == "__main__":
    main()
