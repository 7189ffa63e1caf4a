use std::io::Read;
use std::time::{Duration, Instant};
fn main() {
    let args: Vec<String> = std::env::args().collect();
    let id = std::fs::read_to_string(&args[1]).unwrap();
    let identity: age::x25519::Identity = id
        .lines()
        .find(|l| l.starts_with("AGE-SECRET"))
        .unwrap()
        .parse()
        .unwrap();
    let ct = std::fs::read(&args[2]).unwrap();
    let d = age::Decryptor::new_buffered(&ct[..]).unwrap();
    let mut r = d
        .decrypt(std::iter::once(&identity as &dyn age::Identity))
        .unwrap();
    let mut pt = Vec::with_capacity(ct.len());
    r.read_to_end(&mut pt).unwrap();
    let mut best = [Duration::MAX; 5];
    for _ in 0..20 {
        let t0 = Instant::now();
        let _: serde::de::IgnoredAny = serde_json::from_slice(&pt).unwrap();
        let t1 = Instant::now();
        let doc = secretsd::store::document::Document::for_change(
            secretsd::store::secret_bytes::SecretBytes::new(pt.clone()),
            "x",
        )
        .unwrap();
        let t2 = Instant::now();
        let full = secretsd::store::document::Document::from_json(&pt, "x").unwrap();
        let t3 = Instant::now();
        let j = doc.to_json().unwrap();
        let t4 = Instant::now();
        let j2 = full.to_json().unwrap();
        let t5 = Instant::now();
        assert_eq!(j.len(), j2.len());
        for (b, d) in best
            .iter_mut()
            .zip([t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4])
        {
            *b = (*b).min(d);
        }
    }
    println!(
        "min: ignoredany {:?} for_change {:?} from_json {:?} to_json(lazy) {:?} to_json(full) {:?}",
        best[0], best[1], best[2], best[3], best[4]
    );
}
