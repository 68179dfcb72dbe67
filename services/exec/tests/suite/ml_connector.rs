//! The built-in ML connector against a real MLServer (Open Inference Protocol v2) that serves a
//! scikit-learn model trained on the iris data shipped with scikit-learn. A loopback server of
//! this test stands in for Hugging Face's Inference API and a generic JSON predict endpoint. It
//! also speaks OIP for the cases MLServer cannot show, such as authentication and request counts.
//!
//! MLServer is installed by `scripts/install-mlserver` into `.tools/mlserver`. Without it, the
//! MLServer tests skip with a message, except in CI (`CI` set), where they fail.

use std::collections::VecDeque;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use reqwest::Url;
use serde_json::{json, Map, Value};
use trellis_exec::host::network::{InternalHost, NetworkPolicy, Origin};
use trellis_exec::registry::BUILTIN_COMPONENTS;

use crate::support::builtin::{invalid_input, upstream, BuiltinHarness};

/// An MLServer on free loopback ports serving the `iris` model, stopped when the last test
/// that uses it drops it.
struct MlServer {
    child: Child,
    port: u16,
    // Holds the model folder and the log until the server stops.
    _folder: tempfile::TempDir,
}

impl MlServer {
    /// Trains the model, starts `mlserver start` and waits until the model is ready, or
    /// returns `None` when MLServer is not installed and this is not CI.
    fn start() -> Option<MlServer> {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
        let venv = root.join(".tools/mlserver/bin");
        let (python, mlserver) = (venv.join("python"), venv.join("mlserver"));
        if !mlserver.exists() {
            assert!(
                std::env::var_os("CI").is_none(),
                "MLServer is not installed at {}; run scripts/install-mlserver",
                mlserver.display()
            );
            eprintln!(
                "skipping: MLServer is not installed at {}; run scripts/install-mlserver",
                mlserver.display()
            );
            return None;
        }

        let folder = tempfile::tempdir().unwrap();
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/ml/train_iris.py");
        let trained = Command::new(&python)
            .arg(&script)
            .arg(folder.path())
            .output()
            .unwrap_or_else(|error| panic!("running {}: {error}", script.display()));
        assert!(
            trained.status.success(),
            "training the iris model failed: {}",
            String::from_utf8_lossy(&trained.stderr)
        );

        let (port, grpc_port, metrics_port) = (free_port(), free_port(), free_port());
        // MLServer 1.7.1's parallel inference workers crash at start ("There is no current
        // event loop"), so the model is served in the server's own process.
        let settings = json!({
            "host": "127.0.0.1", "http_port": port, "grpc_port": grpc_port,
            "metrics_port": metrics_port, "parallel_workers": 0
        });
        std::fs::write(folder.path().join("settings.json"), settings.to_string()).unwrap();
        let log_path = folder.path().join("mlserver.log");
        let log = std::fs::File::create(&log_path).unwrap();
        let child = Command::new(&mlserver)
            .arg("start")
            .arg(folder.path())
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|error| panic!("starting {}: {error}", mlserver.display()));
        let mut server = MlServer {
            child,
            port,
            _folder: folder,
        };

        let started = Instant::now();
        while http_status(port, "/v2/models/iris/ready") != Some(200) {
            let log = || std::fs::read_to_string(&log_path).unwrap_or_default();
            if let Ok(Some(status)) = server.child.try_wait() {
                panic!(
                    "MLServer exited before the model was ready: {status}\n{}",
                    log()
                );
            }
            assert!(
                started.elapsed() < Duration::from_secs(120),
                "the iris model was not ready within 120 seconds\n{}",
                log()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        eprintln!(
            "MLServer ready on port {port} after {:?}",
            started.elapsed()
        );
        Some(server)
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for MlServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Returns the MLServer shared by the tests running at the same time. The first one starts it.
fn mlserver() -> Option<Arc<MlServer>> {
    static SHARED: Mutex<Weak<MlServer>> = Mutex::new(Weak::new());
    let mut shared = SHARED
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some(server) = shared.upgrade() {
        return Some(server);
    }
    let server = Arc::new(MlServer::start()?);
    *shared = Arc::downgrade(&server);
    Some(server)
}

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// Sends a plain `GET` and returns the status, or `None` when nothing listens.
fn http_status(port: u16, path: &str) -> Option<u16> {
    let address = SocketAddr::from(([127, 0, 0, 1], port));
    let mut stream = TcpStream::connect_timeout(&address, Duration::from_secs(1)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).ok()?;
    let mut head = [0u8; 32];
    let read = stream.read(&mut head).ok()?;
    let text = String::from_utf8_lossy(&head[..read]).into_owned();
    text.split_whitespace().nth(1)?.parse().ok()
}

/// One request the loopback server received.
#[derive(Debug, Clone)]
struct Received {
    method: String,
    path: String,
    headers: Map<String, Value>,
    body: Value,
}

struct Scripted {
    status: u16,
    body: Value,
}

#[derive(Default)]
struct ServerState {
    received: Vec<Received>,
    scripted: VecDeque<Scripted>,
}

type Shared = web::Data<Mutex<ServerState>>;

const HF_TOKEN: &str = "hf_test_token";
const SST2: &str = "distilbert/distilbert-base-uncased-finetuned-sst-2-english";

/// Responds like Hugging Face's Inference API and Hub, a generic predict endpoint and a small
/// OIP server, unless a test queued a response.
async fn respond(request: HttpRequest, body: web::Bytes, state: Shared) -> HttpResponse {
    let headers = request
        .headers()
        .iter()
        .map(|(name, value)| {
            let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
            (name.as_str().to_string(), Value::String(value))
        })
        .collect();
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let path = request.path().to_string();
    let method = request.method().to_string();
    let scripted = {
        let mut state = state.lock().unwrap();
        state.received.push(Received {
            method: method.clone(),
            path: path.clone(),
            headers,
            body: body.clone(),
        });
        state.scripted.pop_front()
    };
    if let Some(scripted) = scripted {
        let status = actix_web::http::StatusCode::from_u16(scripted.status).unwrap();
        return HttpResponse::build(status).json(scripted.body);
    }

    let authorized = request
        .headers()
        .get("authorization")
        .is_some_and(|value| value.as_bytes() == format!("Bearer {HF_TOKEN}").as_bytes());
    let missing_model = path.contains("missing/model");
    match (method.as_str(), path.as_str()) {
        // Hugging Face
        (_, p) if (p.starts_with("/models/") || p.starts_with("/status/")) && !authorized => {
            HttpResponse::Unauthorized()
                .json(json!({ "error": "Invalid credentials in Authorization header" }))
        }
        (_, p) if missing_model && !p.starts_with("/v2") => {
            HttpResponse::NotFound().json(json!({ "error": "Model missing/model does not exist" }))
        }
        ("POST", p) if p.ends_with("/pipeline/feature-extraction") => {
            HttpResponse::Ok().json(json!([[0.25, -0.5, 0.125]]))
        }
        ("POST", p) if p.starts_with("/models/") => HttpResponse::Ok().json(json!([[
            { "label": "POSITIVE", "score": 0.9998 },
            { "label": "NEGATIVE", "score": 0.0002 }
        ]])),
        ("GET", p) if p.starts_with("/status/") => HttpResponse::Ok().json(json!({
            "loaded": true, "state": "Loaded", "compute_type": "cpu", "framework": "transformers"
        })),
        ("GET", p) if p.starts_with("/api/models/") => HttpResponse::Ok().json(json!({
            "id": &p["/api/models/".len()..], "pipeline_tag": "text-classification",
            "library_name": "transformers", "tags": ["transformers", "text-classification"]
        })),
        // Generic
        ("PUT" | "POST", "/invocations") => HttpResponse::Ok().json(json!({
            "predictions": [0.12, 0.87]
        })),
        ("GET", "/info/churn") => {
            HttpResponse::Ok().json(json!({ "name": "churn", "features": 3 }))
        }
        ("GET", "/health") => HttpResponse::Ok().json(json!({ "status": "ok" })),
        // OIP
        ("GET", "/v2") => {
            HttpResponse::Ok().json(json!({ "name": "stand-in", "version": "1", "extensions": [] }))
        }
        ("GET", "/v2/models/iris") => HttpResponse::Ok().json(json!({
            "name": "iris", "versions": [], "platform": "",
            "inputs": [{ "name": "predict", "datatype": "FP64", "shape": [-1, 4] }],
            "outputs": []
        })),
        ("POST", "/v2/models/iris/infer") => HttpResponse::Ok().json(json!({
            "model_name": "iris", "outputs": [
                { "name": "predict", "shape": [1, 1], "datatype": "INT64", "data": [0] }
            ]
        })),
        _ => HttpResponse::NotFound().json(json!({ "error": "Not found" })),
    }
}

/// The loopback server of this test.
struct Api {
    port: u16,
    state: Shared,
}

impl Api {
    async fn start() -> Self {
        let state: Shared = web::Data::new(Mutex::new(ServerState::default()));
        let data = state.clone();
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .default_service(web::to(respond))
        })
        .workers(1)
        .bind("127.0.0.1:0")
        .unwrap();
        let port = server.addrs()[0].port();
        tokio::spawn(server.run());
        Api { port, state }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn script(&self, status: u16, body: Value) {
        self.state
            .lock()
            .unwrap()
            .scripted
            .push_back(Scripted { status, body });
    }

    fn received(&self) -> Vec<Received> {
        self.state.lock().unwrap().received.clone()
    }

    fn last(&self) -> Received {
        self.received()
            .pop()
            .expect("the server received a request")
    }
}

/// Loads the connector with the loopback ports it may reach.
async fn harness(ports: &[u16]) -> BuiltinHarness {
    let internal = ports
        .iter()
        .map(|port| InternalHost::parse(&format!("127.0.0.1:{port}")).unwrap())
        .collect();
    BuiltinHarness::new("ml", internal).await
}

fn closed_port() -> u16 {
    free_port()
}

fn oip(url: &str) -> Value {
    json!({ "protocol": "oip", "base_url": url })
}

fn huggingface(api: &Api) -> Value {
    json!({
        "protocol": "huggingface", "base_url": api.url(), "hub_url": api.url(),
        "auth_type": "bearer", "bearer_token": HF_TOKEN
    })
}

fn generic(api: &Api) -> Value {
    json!({
        "protocol": "generic", "base_url": api.url(), "predict_path": "/invocations",
        "predict_method": "PUT", "metadata_path": "/info/{model}", "ready_path": "/health",
        "model": "churn", "auth_type": "api_key", "api_key": "k-123",
        "api_key_header": "x-model-key"
    })
}

/// Two iris flowers: a setosa (class 0) and a virginica (class 2).
fn iris_rows() -> Value {
    json!([[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]])
}

#[test]
fn ml_is_listed_as_builtin() {
    assert!(BUILTIN_COMPONENTS.iter().any(|(name, _)| *name == "ml"));
}

#[tokio::test]
async fn manifest_marks_secrets_and_base_urls() {
    let harness = harness(&[]).await;
    let manifest = &harness.plugin.manifest;
    let operations: Vec<(&str, bool)> = manifest
        .operations
        .iter()
        .map(|operation| (operation.name.as_str(), operation.read_only))
        .collect();

    assert_eq!(manifest.id, "ml");
    assert_eq!(manifest.secret_fields, vec!["bearer_token", "api_key"]);
    assert_eq!(manifest.base_url_fields, vec!["base_url", "hub_url"]);
    assert_eq!(
        operations,
        vec![("predict", true), ("metadata", true), ("ready", true)]
    );
}

#[tokio::test]
async fn huggingface_default_url_is_allowed() {
    let harness = harness(&[]).await;
    let manifest = &harness.plugin.manifest;
    let origin = |url: &str| Origin::of(&Url::parse(url).unwrap()).unwrap();

    let policy = NetworkPolicy::from_config_with_defaults(
        &manifest.base_url_fields,
        &manifest.config_schema,
        &json!({ "protocol": "huggingface", "bearer_token": "hf_x" }),
        &[],
    );

    assert!(policy.allows_origin(&origin("https://router.huggingface.co/hf-inference")));
    assert!(policy.allows_origin(&origin("https://huggingface.co/api/models/x")));
}

#[tokio::test]
async fn mlserver_predicts_tensors() {
    let Some(server) = mlserver() else { return };
    let harness = harness(&[server.port]).await;

    let output = harness
        .execute(
            &oip(&server.url()),
            "predict",
            json!({ "model": "iris", "id": "req-1", "inputs": [{
                "name": "predict", "shape": [2, 4], "datatype": "FP64", "data": iris_rows()
            }] }),
        )
        .await
        .unwrap();

    assert_eq!(output["model_name"], json!("iris"));
    assert_eq!(output["model_version"], json!("v1"));
    assert_eq!(output["id"], json!("req-1"));
    assert_eq!(output["outputs"][0]["name"], json!("predict"));
    assert_eq!(output["outputs"][0]["shape"], json!([2, 1]));
    assert_eq!(output["outputs"][0]["datatype"], json!("INT64"));
    assert_eq!(output["outputs"][0]["data"], json!([0, 2]));
}

#[tokio::test]
async fn mlserver_predicts_records() {
    let Some(server) = mlserver() else { return };
    let harness = harness(&[server.port]).await;
    let config = json!({ "base_url": server.url(), "model": "iris", "model_version": "v1" });
    let columns = ["sepal_length", "sepal_width", "petal_length", "petal_width"];

    let rows = harness
        .execute(&config, "predict", json!({ "records": iris_rows() }))
        .await
        .unwrap();
    let objects = harness
        .execute(
            &config,
            "predict",
            json!({
                "records": [
                    { "petal_width": 0.2, "petal_length": 1.4, "sepal_width": 3.5, "sepal_length": 5.1 },
                    { "sepal_length": 6.7, "sepal_width": 3.0, "petal_length": 5.2, "petal_width": 2.3 }
                ],
                "columns": columns,
                "outputs": ["predict_proba"]
            }),
        )
        .await
        .unwrap();

    assert_eq!(rows["outputs"][0]["data"], json!([0, 2]));
    assert_eq!(objects["outputs"][0]["name"], json!("predict_proba"));
    assert_eq!(objects["outputs"][0]["shape"], json!([2, 3]));
    let probabilities = objects["outputs"][0]["data"].as_array().unwrap();
    assert!(
        probabilities[0].as_f64().unwrap() > 0.9,
        "{probabilities:?}"
    );
    assert!(
        probabilities[5].as_f64().unwrap() > 0.5,
        "{probabilities:?}"
    );
}

#[tokio::test]
async fn mlserver_metadata_and_ready() {
    let Some(server) = mlserver() else { return };
    let harness = harness(&[server.port]).await;
    let config = oip(&server.url());

    let metadata = harness
        .execute(&config, "metadata", json!({ "model": "iris" }))
        .await
        .unwrap();
    let ready = harness
        .execute(
            &config,
            "ready",
            json!({ "model": "iris", "version": "v1" }),
        )
        .await
        .unwrap();

    assert_eq!(metadata["name"], json!("iris"));
    assert_eq!(
        metadata["inputs"],
        json!([{ "name": "predict", "datatype": "FP64", "shape": [-1, 4] }])
    );
    assert_eq!(
        ready,
        json!({ "ready": true, "model": "iris", "version": "v1", "status": 200 })
    );
}

#[tokio::test]
async fn mlserver_unknown_model_is_404() {
    let Some(server) = mlserver() else { return };
    let harness = harness(&[server.port]).await;
    let config = oip(&server.url());
    let tensor = json!([{ "name": "predict", "shape": [1, 4], "datatype": "FP64",
                          "data": [5.1, 3.5, 1.4, 0.2] }]);

    let checked = harness
        .execute(
            &config,
            "predict",
            json!({ "model": "nope", "inputs": tensor }),
        )
        .await;
    let unchecked = harness
        .execute(
            &config,
            "predict",
            json!({ "model": "nope", "inputs": tensor, "check_metadata": false }),
        )
        .await;
    let ready = harness
        .execute(
            &config,
            "ready",
            json!({ "model": "iris", "version": "v9" }),
        )
        .await;
    let metadata = harness
        .execute(&config, "metadata", json!({ "model": "nope" }))
        .await;

    for (status, message) in [upstream(checked), upstream(unchecked), upstream(metadata)] {
        assert_eq!(status, Some(404));
        assert!(message.contains("model `nope` was not found"), "{message}");
        assert!(message.contains("Model nope not found"), "{message}");
    }
    let (status, message) = upstream(ready);
    assert_eq!(status, Some(404));
    assert!(
        message.contains("model `iris` version `v9` was not found"),
        "{message}"
    );
    assert!(
        message.contains("Model iris with version v9 not found"),
        "{message}"
    );
}

#[tokio::test]
async fn mlserver_error_body_passed_through() {
    let Some(server) = mlserver() else { return };
    let harness = harness(&[server.port]).await;

    let result = harness
        .execute(
            &oip(&server.url()),
            "predict",
            json!({ "model": "iris", "records": iris_rows(), "outputs": ["bogus"] }),
        )
        .await;

    let (status, message) = upstream(result);
    assert_eq!(status, Some(400));
    assert!(
        message.contains(
            "SKLearnModel only supports 'predict', 'predict_proba' and 'transform' as outputs \
             (bogus was received)"
        ),
        "{message}"
    );
}

#[tokio::test]
async fn mlserver_metadata_mismatch_rejected() {
    let Some(server) = mlserver() else { return };
    let harness = harness(&[server.port]).await;
    let config = json!({ "base_url": server.url(), "model": "iris" });
    let tensor = |name: &str, datatype: &str, shape: Value, data: Value| json!({ "inputs": [{ "name": name, "shape": shape, "datatype": datatype, "data": data }] });

    let datatype = harness
        .execute(
            &config,
            "predict",
            tensor(
                "predict",
                "FP32",
                json!([1, 4]),
                json!([5.1, 3.5, 1.4, 0.2]),
            ),
        )
        .await;
    let shape = harness
        .execute(
            &config,
            "predict",
            tensor("predict", "FP64", json!([1, 3]), json!([5.1, 3.5, 1.4])),
        )
        .await;
    let name = harness
        .execute(
            &config,
            "predict",
            tensor(
                "features",
                "FP64",
                json!([1, 4]),
                json!([5.1, 3.5, 1.4, 0.2]),
            ),
        )
        .await;

    assert_eq!(
        invalid_input(datatype),
        "input `predict` has datatype FP32, but model `iris` expects FP64"
    );
    assert_eq!(
        invalid_input(shape),
        "input `predict` has shape [1, 3], but model `iris` expects [-1, 4] (-1 is any size)"
    );
    assert_eq!(
        invalid_input(name),
        "input `features` is not an input of model `iris`, whose inputs are `predict`"
    );
}

#[tokio::test]
async fn mlserver_connection_test() {
    let Some(server) = mlserver() else { return };
    let refused = closed_port();
    let harness = harness(&[server.port, refused]).await;

    let plain = harness.test_connection(&oip(&server.url())).await;
    let with_model = harness
        .test_connection(
            &json!({ "base_url": server.url(), "model": "iris", "model_version": "v1" }),
        )
        .await;
    let missing = harness
        .test_connection(&json!({ "base_url": server.url(), "model": "nope" }))
        .await;
    let connect = harness
        .test_connection(&oip(&format!("http://127.0.0.1:{refused}")))
        .await;

    assert!(plain.is_ok(), "{plain:?}");
    assert!(with_model.is_ok(), "{with_model:?}");
    let (status, message) = upstream(missing);
    assert_eq!(status, Some(404));
    assert!(message.contains("at the request step"), "{message}");
    assert!(message.contains("Model nope not found"), "{message}");
    let (status, message) = upstream(connect);
    assert_eq!(status, None);
    assert!(message.contains("at the connect step"), "{message}");
}

#[tokio::test]
async fn local_checks_send_nothing() {
    let api = Api::start().await;
    let harness = harness(&[api.port]).await;
    let config = json!({ "base_url": api.url(), "model": "iris" });
    let cases = [
        (
            json!({ "inputs": [{ "name": "predict", "shape": [2, 4], "datatype": "FP64",
                                 "data": [5.1, 3.5, 1.4, 0.2] }] }),
            "input `predict`: the shape [2, 4] holds 8 values, but `data` has 4",
        ),
        (
            json!({ "inputs": [{ "name": "pixels", "shape": [2], "datatype": "UINT8",
                                 "data": [12, 256] }] }),
            "input `pixels`: the value 256 at index 1 does not fit UINT8 (0 to 255)",
        ),
        (
            json!({ "inputs": [{ "name": "flags", "shape": [1], "datatype": "BOOL",
                                 "data": ["yes"] }] }),
            "input `flags`: the value \"yes\" at index 0 is not a boolean, as BOOL needs",
        ),
        (
            json!({ "records": [[1, 2], [3]] }),
            "record 1 has 1 values, but record 0 has 2",
        ),
    ];

    for (input, expected) in cases {
        let result = harness.execute(&config, "predict", input).await;

        assert_eq!(invalid_input(result), expected);
    }
    assert!(api.received().is_empty(), "{:?}", api.received());
}

#[tokio::test]
async fn metadata_mismatch_sends_no_inference() {
    let api = Api::start().await;
    let harness = harness(&[api.port]).await;
    let config = json!({ "base_url": api.url(), "model": "iris" });

    let result = harness
        .execute(
            &config,
            "predict",
            json!({ "records": [[1, 2, 3]], "datatype": "FP64" }),
        )
        .await;
    let cached = harness
        .execute(
            &config,
            "predict",
            json!({ "records": [[5.1, 3.5, 1.4, 0.2]] }),
        )
        .await
        .unwrap();

    assert_eq!(
        invalid_input(result),
        "input `predict` has shape [1, 3], but model `iris` expects [-1, 4] (-1 is any size)"
    );
    let paths: Vec<(String, String)> = api
        .received()
        .into_iter()
        .map(|request| (request.method, request.path))
        .collect();
    // The metadata read by the first call is reused by the second.
    assert_eq!(
        paths,
        vec![
            ("GET".to_string(), "/v2/models/iris".to_string()),
            ("POST".to_string(), "/v2/models/iris/infer".to_string())
        ]
    );
    assert_eq!(
        api.last().body["inputs"],
        json!([{ "name": "predict", "shape": [1, 4], "datatype": "FP64",
                 "data": [5.1, 3.5, 1.4, 0.2] }])
    );
    assert_eq!(cached["outputs"][0]["data"], json!([0]));
}

#[tokio::test]
async fn oip_rejected_token_is_401() {
    let api = Api::start().await;
    let harness = harness(&[api.port]).await;
    let config = json!({
        "base_url": api.url(), "model": "iris", "check_metadata": false,
        "auth_type": "bearer", "bearer_token": "wrong"
    });
    let unauthorized = json!({ "error": "Unauthorized: invalid token" });
    api.script(401, unauthorized.clone());
    api.script(401, unauthorized);

    let predict = harness
        .execute(&config, "predict", json!({ "records": iris_rows() }))
        .await;
    let test = harness.test_connection(&config).await;

    assert_eq!(
        api.received()[0].headers["authorization"],
        json!("Bearer wrong")
    );
    let (status, message) = upstream(predict);
    assert_eq!(status, Some(401));
    assert!(message.contains("Unauthorized: invalid token"), "{message}");
    let (status, message) = upstream(test);
    assert_eq!(status, Some(401));
    assert!(message.contains("at the authentication step"), "{message}");
}

#[tokio::test]
async fn huggingface_text_classification() {
    let api = Api::start().await;
    let harness = harness(&[api.port]).await;

    let output = harness
        .execute(
            &huggingface(&api),
            "predict",
            json!({ "model": SST2, "task": "text-classification",
                    "inputs": "I love this movie", "parameters": { "top_k": 2 },
                    "wait_for_model": true, "use_cache": false }),
        )
        .await
        .unwrap();

    let request = api.last();
    assert_eq!(request.method, "POST");
    assert_eq!(request.path, format!("/models/{SST2}"));
    assert_eq!(
        request.headers["authorization"],
        json!(format!("Bearer {HF_TOKEN}"))
    );
    assert_eq!(request.headers["x-wait-for-model"], json!("true"));
    assert_eq!(request.headers["x-use-cache"], json!("false"));
    assert_eq!(
        request.body,
        json!({ "inputs": "I love this movie", "parameters": { "top_k": 2 } })
    );
    assert_eq!(output["model"], json!(SST2));
    assert_eq!(output["output"][0][0]["label"], json!("POSITIVE"));
    assert_eq!(output["output"][0][0]["score"], json!(0.9998));
}

#[tokio::test]
async fn huggingface_feature_extraction_pipeline() {
    let api = Api::start().await;
    let harness = harness(&[api.port]).await;
    let model = "sentence-transformers/all-MiniLM-L6-v2";

    let output = harness
        .execute(
            &huggingface(&api),
            "predict",
            json!({ "model": model, "task": "feature-extraction", "inputs": ["Hello"] }),
        )
        .await
        .unwrap();

    assert_eq!(
        api.last().path,
        format!("/models/{model}/pipeline/feature-extraction")
    );
    assert_eq!(output["output"], json!([[0.25, -0.5, 0.125]]));
}

#[tokio::test]
async fn huggingface_waits_for_loading_model() {
    let api = Api::start().await;
    let harness = harness(&[api.port]).await;
    api.script(
        503,
        json!({ "error": format!("Model {SST2} is currently loading"), "estimated_time": 0.5 }),
    );
    let started = Instant::now();

    let output = harness
        .execute(
            &huggingface(&api),
            "predict",
            json!({ "model": SST2, "inputs": "ok" }),
        )
        .await
        .unwrap();

    assert!(
        started.elapsed() >= Duration::from_millis(500),
        "asked again after {:?}",
        started.elapsed()
    );
    assert_eq!(api.received().len(), 2);
    assert_eq!(output["output"][0][0]["label"], json!("POSITIVE"));
}

#[tokio::test]
async fn huggingface_loading_past_budget() {
    let api = Api::start().await;
    let harness = harness(&[api.port]).await;
    api.script(
        503,
        json!({ "error": format!("Model {SST2} is currently loading"), "estimated_time": 120.0 }),
    );

    let result = harness
        .execute(
            &huggingface(&api),
            "predict",
            json!({ "model": SST2, "inputs": "ok", "timeout_ms": 5000 }),
        )
        .await;

    assert_eq!(api.received().len(), 1);
    let (status, message) = upstream(result);
    assert_eq!(status, Some(503));
    assert!(
        message.contains("estimates it is ready in 120 s"),
        "{message}"
    );
    assert!(message.contains("is currently loading"), "{message}");
}

#[tokio::test]
async fn huggingface_errors_carry_status() {
    let api = Api::start().await;
    let harness = harness(&[api.port]).await;
    let mut wrong_token = huggingface(&api);
    wrong_token["bearer_token"] = json!("hf_wrong");

    let missing = harness
        .execute(
            &huggingface(&api),
            "predict",
            json!({ "model": "missing/model", "inputs": "x" }),
        )
        .await;
    let unauthorized = harness
        .execute(
            &wrong_token,
            "predict",
            json!({ "model": SST2, "inputs": "x" }),
        )
        .await;
    let shape = harness
        .execute(
            &huggingface(&api),
            "predict",
            json!({ "model": SST2, "task": "question-answering", "inputs": "x" }),
        )
        .await;

    let (status, message) = upstream(missing);
    assert_eq!(status, Some(404));
    assert!(
        message.contains("model `missing/model` was not found"),
        "{message}"
    );
    assert!(message.contains("does not exist"), "{message}");
    let (status, message) = upstream(unauthorized);
    assert_eq!(status, Some(401));
    assert!(message.contains("Invalid credentials"), "{message}");
    assert_eq!(
        invalid_input(shape),
        "the field `inputs` of a question-answering call must be an object with `question` \
         and `context` texts"
    );
    assert_eq!(api.received().len(), 2, "the malformed input was not sent");
}

#[tokio::test]
async fn huggingface_metadata_and_ready() {
    let api = Api::start().await;
    let harness = harness(&[api.port]).await;
    let mut config = huggingface(&api);
    config["model"] = json!(SST2);

    let metadata = harness
        .execute(&config, "metadata", json!({}))
        .await
        .unwrap();
    let metadata_path = api.last().path;
    let ready = harness.execute(&config, "ready", json!({})).await.unwrap();
    let ready_path = api.last().path;

    assert_eq!(metadata_path, format!("/api/models/{SST2}"));
    assert_eq!(metadata["pipeline_tag"], json!("text-classification"));
    assert_eq!(ready_path, format!("/status/{SST2}"));
    assert_eq!(ready["ready"], json!(true));
    assert_eq!(ready["state"], json!("Loaded"));
}

#[tokio::test]
async fn huggingface_connection_test() {
    let api = Api::start().await;
    let refused = closed_port();
    let harness = harness(&[api.port, refused]).await;
    let mut config = huggingface(&api);
    config["model"] = json!(SST2);
    let mut wrong_token = config.clone();
    wrong_token["bearer_token"] = json!("hf_wrong");
    let mut closed = config.clone();
    closed["base_url"] = json!(format!("http://127.0.0.1:{refused}"));

    let ok = harness.test_connection(&config).await;
    let auth = harness.test_connection(&wrong_token).await;
    let connect = harness.test_connection(&closed).await;

    assert!(ok.is_ok(), "{ok:?}");
    let (status, message) = upstream(auth);
    assert_eq!(status, Some(401));
    assert!(message.contains("at the authentication step"), "{message}");
    let (_, message) = upstream(connect);
    assert!(message.contains("at the connect step"), "{message}");
}

#[tokio::test]
async fn generic_predict_sends_body() {
    let api = Api::start().await;
    let harness = harness(&[api.port]).await;
    let body =
        json!({ "instances": [{ "tenure": 3, "plan": "basic" }, { "tenure": 40, "plan": "pro" }] });

    let output = harness
        .execute(&generic(&api), "predict", json!({ "body": body }))
        .await
        .unwrap();

    let request = api.last();
    assert_eq!(request.method, "PUT");
    assert_eq!(request.path, "/invocations");
    assert_eq!(request.headers["x-model-key"], json!("k-123"));
    assert_eq!(request.body, body);
    assert_eq!(
        output,
        json!({ "status": 200, "output": { "predictions": [0.12, 0.87] } })
    );
}

#[tokio::test]
async fn generic_metadata_ready_and_errors() {
    let api = Api::start().await;
    let harness = harness(&[api.port]).await;
    let mut without_paths = generic(&api);
    without_paths
        .as_object_mut()
        .unwrap()
        .remove("metadata_path");

    let metadata = harness
        .execute(&generic(&api), "metadata", json!({}))
        .await
        .unwrap();
    let ready = harness
        .execute(&generic(&api), "ready", json!({}))
        .await
        .unwrap();
    api.script(400, json!({ "detail": "instances must be a list" }));
    let bad = harness
        .execute(
            &generic(&api),
            "predict",
            json!({ "body": { "instances": 1 } }),
        )
        .await;
    let no_path = harness.execute(&without_paths, "metadata", json!({})).await;
    let misplaced = harness
        .execute(&generic(&api), "predict", json!({ "inputs": [] }))
        .await;

    assert_eq!(metadata, json!({ "name": "churn", "features": 3 }));
    assert_eq!(ready["ready"], json!(true));
    let (status, message) = upstream(bad);
    assert_eq!(status, Some(400));
    assert!(message.contains("instances must be a list"), "{message}");
    assert!(invalid_input(no_path).contains("no `metadata_path`"));
    assert!(invalid_input(misplaced).contains("with the oip and huggingface protocol only"));
}

#[tokio::test]
async fn generic_connection_test() {
    let api = Api::start().await;
    let harness = harness(&[api.port]).await;
    api.script(401, json!({ "message": "missing key" }));
    api.script(500, json!({ "message": "model crashed" }));

    let auth = harness.test_connection(&generic(&api)).await;
    let request = harness.test_connection(&generic(&api)).await;
    let ok = harness.test_connection(&generic(&api)).await;

    let (status, message) = upstream(auth);
    assert_eq!(status, Some(401));
    assert!(message.contains("at the authentication step"), "{message}");
    let (status, message) = upstream(request);
    assert_eq!(status, Some(500));
    assert!(message.contains("at the request step"), "{message}");
    assert!(message.contains("model crashed"), "{message}");
    assert!(ok.is_ok(), "{ok:?}");
    assert_eq!(api.last().path, "/health");
}
