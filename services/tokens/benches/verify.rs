//! Access-token verification throughput: signature, algorithm, `kid`, `iss`, `aud`, `exp` and
//! `nbf` checks on one EdDSA token, as every service runs them per request.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use futures_util::FutureExt;
use trellis_tokens::{Claims, JwksSource, KeyRing, Verifier};
use uuid::Uuid;

fn verify(c: &mut Criterion) {
    let ring = KeyRing::generate().unwrap();
    let verifier = Verifier::new("trellis", "trellis-api", JwksSource::Local);
    verifier.set_keys(&ring.jwks().unwrap());
    let now = chrono::Utc::now().timestamp();
    let claims = Claims {
        iss: "trellis".into(),
        aud: "trellis-api".into(),
        sub: Uuid::new_v4(),
        exp: now + 3600,
        nbf: now,
        iat: now,
        jti: Uuid::new_v4(),
    };
    let token = ring.sign(&claims).unwrap();

    let mut group = c.benchmark_group("access_token");
    group.throughput(Throughput::Elements(1));
    group.bench_function("verify", |b| {
        // With the key known, verification never waits, so the future is ready at once.
        b.iter(|| verifier.verify(&token).now_or_never().unwrap().unwrap())
    });
    group.bench_function("sign", |b| b.iter(|| ring.sign(&claims).unwrap()));
    group.finish();
}

criterion_group!(benches, verify);
criterion_main!(benches);
