//! RSA PKCS#1 v1.5 SHA-256 signing speed of the candidate libraries for the LicenseSpring surface (issue 15),
//! one thread, one key, a 1.5 kB message (an activation answer's size) and a 60-byte one (a v1
//! `license_signature` message). Built and run by bench/rsa_libraries.sh in a scratch project, never in the
//! workspace. Each library signs with the same key (made by `rsa`, which alone of the three generates keys in
//! pure Rust; aws-lc-rs generates too), and every signature is checked equal across libraries (PKCS#1 v1.5 is
//! deterministic).

use std::time::{Duration, Instant};

use rsa::pkcs8::EncodePrivateKey;

fn rate(name: &str, bits: usize, len: usize, mut sign: impl FnMut() -> Vec<u8>) -> Vec<u8> {
    let first = sign();
    for _ in 0..20 {
        sign();
    }
    let start = Instant::now();
    let mut n = 0u32;
    while start.elapsed() < Duration::from_secs(3) {
        sign();
        n += 1;
    }
    let per_sec = f64::from(n) / start.elapsed().as_secs_f64();
    println!("| {name} | {bits} | {len} | {per_sec:.0} | {:.0} |", 1e6 / per_sec);
    first
}

fn main() {
    println!("| library | bits | message bytes | signatures/s | µs each |");
    println!("| --- | ---: | ---: | ---: | ---: |");
    for bits in [2048usize, 4096] {
        let mut rng = rand::thread_rng();
        let key = rsa::RsaPrivateKey::new(&mut rng, bits).expect("key");
        let der = key.to_pkcs8_der().expect("pkcs8").as_bytes().to_vec();
        for len in [60usize, 1500] {
            let msg: Vec<u8> = (0..len).map(|i| b'a' + (i % 26) as u8).collect();

            let ring_key = ring::signature::RsaKeyPair::from_pkcs8(&der).expect("ring key");
            let ring_rng = ring::rand::SystemRandom::new();
            let a = rate("ring 0.17", bits, len, || {
                let mut sig = vec![0; ring_key.public().modulus_len()];
                ring_key.sign(&ring::signature::RSA_PKCS1_SHA256, &ring_rng, &msg, &mut sig).expect("sign");
                sig
            });

            let aws_key = aws_lc_rs::signature::RsaKeyPair::from_pkcs8(&der).expect("aws-lc key");
            let aws_rng = aws_lc_rs::rand::SystemRandom::new();
            let b = rate("aws-lc-rs 1", bits, len, || {
                let mut sig = vec![0; aws_key.public_modulus_len()];
                aws_key.sign(&aws_lc_rs::signature::RSA_PKCS1_SHA256, &aws_rng, &msg, &mut sig).expect("sign");
                sig
            });

            let signing = rsa::pkcs1v15::SigningKey::<sha2::Sha256>::new(key.clone());
            let c = rate("rsa 0.9 (RustCrypto)", bits, len, || {
                use rsa::signature::{SignatureEncoding, Signer};
                signing.sign(&msg).to_vec()
            });
            assert!(a == b && b == c, "the three libraries agree on every signature");
        }
    }
}
