//! SRTP ciphers from the RustCrypto AES crates: AES-128 counter mode (with str0m's HMAC-SHA1
//! tags) and AES-GCM with 128- and 256-bit keys, plus the AES-ECB rounds of key derivation.
//! Errors are returned, never panicked on: the lengths come from str0m, the bytes from the network.

use aes::cipher::{BlockCipherEncrypt, KeyInit, KeyIvInit, StreamCipher};
use aes_gcm::{AeadInOut, Aes128Gcm, Aes256Gcm};
use str0m::crypto::{
    AeadAes128GcmCipher, AeadAes256GcmCipher, Aes128CmSha1_80Cipher, CryptoError, SrtpProvider,
    SupportedAeadAes128Gcm, SupportedAeadAes256Gcm, SupportedAes128CmSha1_80,
};

type Aes128Ctr = ctr::Ctr128BE<aes::Aes128>;
const GCM_TAG: usize = 16;

fn failed(what: &str) -> CryptoError {
    CryptoError::Other(format!("SRTP {what} failed"))
}

/// The SRTP provider.
#[derive(Debug)]
pub(super) struct RustCryptoSrtp;

impl SrtpProvider for RustCryptoSrtp {
    fn aes_128_cm_sha1_80(&self) -> &'static dyn SupportedAes128CmSha1_80 {
        &CounterMode
    }

    fn aead_aes_128_gcm(&self) -> &'static dyn SupportedAeadAes128Gcm {
        &Gcm
    }

    fn aead_aes_256_gcm(&self) -> &'static dyn SupportedAeadAes256Gcm {
        &Gcm
    }

    fn srtp_aes_128_ecb_round(&self, key: &[u8], input: &[u8], output: &mut [u8]) {
        if let Ok(cipher) = aes::Aes128::new_from_slice(key) {
            ecb_round(&cipher, input, output);
        }
    }

    fn srtp_aes_256_ecb_round(&self, key: &[u8], input: &[u8], output: &mut [u8]) {
        if let Ok(cipher) = aes::Aes256::new_from_slice(key) {
            ecb_round(&cipher, input, output);
        }
    }
}

/// One 16-byte block and its PKCS#7 padding block, as OpenSSL's ECB mode writes them (what
/// str0m's key derivation expects: 32 bytes out for 16 in).
fn ecb_round(
    cipher: &impl BlockCipherEncrypt<BlockSize = aes::cipher::consts::U16>,
    input: &[u8],
    output: &mut [u8],
) {
    let (Ok(block), true) = (<[u8; 16]>::try_from(input), output.len() >= 32) else {
        return;
    };
    let mut first = block.into();
    cipher.encrypt_block(&mut first);
    output[..16].copy_from_slice(&first);
    let mut padding = [0x10u8; 16].into();
    cipher.encrypt_block(&mut padding);
    output[16..32].copy_from_slice(&padding);
}

#[derive(Debug)]
struct CounterMode;

impl SupportedAes128CmSha1_80 for CounterMode {
    fn create_cipher(&self, key: [u8; 16], _encrypt: bool) -> Box<dyn Aes128CmSha1_80Cipher> {
        Box::new(CounterCipher { key })
    }
}

struct CounterCipher {
    key: [u8; 16],
}

impl std::fmt::Debug for CounterCipher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CounterCipher")
    }
}

impl Aes128CmSha1_80Cipher for CounterCipher {
    fn encrypt(
        &mut self,
        iv: &[u8; 16],
        input: &[u8],
        output: &mut [u8],
    ) -> Result<(), CryptoError> {
        let out = output
            .get_mut(..input.len())
            .ok_or_else(|| failed("encrypt"))?;
        out.copy_from_slice(input);
        Aes128Ctr::new(&self.key.into(), &(*iv).into()).apply_keystream(out);
        Ok(())
    }

    fn decrypt(
        &mut self,
        iv: &[u8; 16],
        input: &[u8],
        output: &mut [u8],
    ) -> Result<(), CryptoError> {
        self.encrypt(iv, input, output)
    }
}

#[derive(Debug)]
struct Gcm;

impl SupportedAeadAes128Gcm for Gcm {
    fn create_cipher(&self, key: [u8; 16], _encrypt: bool) -> Box<dyn AeadAes128GcmCipher> {
        Box::new(GcmCipher(Aes128Gcm::new(&key.into())))
    }
}

impl SupportedAeadAes256Gcm for Gcm {
    fn create_cipher(&self, key: [u8; 32], _encrypt: bool) -> Box<dyn AeadAes256GcmCipher> {
        Box::new(GcmCipher(Aes256Gcm::new(&key.into())))
    }
}

struct GcmCipher<C>(C);

impl<C> std::fmt::Debug for GcmCipher<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("GcmCipher")
    }
}

impl<C: AeadInOut<NonceSize = aes::cipher::consts::U12>> GcmCipher<C> {
    /// Writes ciphertext and then the 16-byte tag to `output`.
    fn seal(
        &self,
        iv: &[u8; 12],
        aad: &[u8],
        input: &[u8],
        output: &mut [u8],
    ) -> Result<(), CryptoError> {
        let len = input.len();
        let out = output
            .get_mut(..len + GCM_TAG)
            .ok_or_else(|| failed("encrypt"))?;
        let (body, tag_out) = out.split_at_mut(len);
        body.copy_from_slice(input);
        let tag = self
            .0
            .encrypt_inout_detached(&(*iv).into(), aad, body.into())
            .map_err(|_| failed("encrypt"))?;
        tag_out.copy_from_slice(&tag);
        Ok(())
    }

    /// Checks the tag at the end of `input` and writes the plaintext; its length.
    fn open(
        &self,
        iv: &[u8; 12],
        aads: &[&[u8]],
        input: &[u8],
        output: &mut [u8],
    ) -> Result<usize, CryptoError> {
        let len = input
            .len()
            .checked_sub(GCM_TAG)
            .ok_or_else(|| failed("decrypt"))?;
        let (body, tag) = input.split_at(len);
        let tag = tag.try_into().map_err(|_| failed("decrypt"))?;
        let out = output.get_mut(..len).ok_or_else(|| failed("decrypt"))?;
        out.copy_from_slice(body);
        let aad = aads.concat();
        self.0
            .decrypt_inout_detached(&(*iv).into(), &aad, out.into(), tag)
            .map_err(|_| failed("decrypt"))?;
        Ok(len)
    }
}

impl AeadAes128GcmCipher for GcmCipher<Aes128Gcm> {
    fn encrypt(
        &mut self,
        iv: &[u8; 12],
        aad: &[u8],
        input: &[u8],
        output: &mut [u8],
    ) -> Result<(), CryptoError> {
        self.seal(iv, aad, input, output)
    }

    fn decrypt(
        &mut self,
        iv: &[u8; 12],
        aads: &[&[u8]],
        input: &[u8],
        output: &mut [u8],
    ) -> Result<usize, CryptoError> {
        self.open(iv, aads, input, output)
    }
}

impl AeadAes256GcmCipher for GcmCipher<Aes256Gcm> {
    fn encrypt(
        &mut self,
        iv: &[u8; 12],
        aad: &[u8],
        input: &[u8],
        output: &mut [u8],
    ) -> Result<(), CryptoError> {
        self.seal(iv, aad, input, output)
    }

    fn decrypt(
        &mut self,
        iv: &[u8; 12],
        aads: &[&[u8]],
        input: &[u8],
        output: &mut [u8],
    ) -> Result<usize, CryptoError> {
        self.open(iv, aads, input, output)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gcm_round_trips_and_refuses_a_changed_byte() {
        let mut cipher = SupportedAeadAes128Gcm::create_cipher(&Gcm, [7; 16], true);
        let (iv, aad) = ([1; 12], [2; 12]);
        let mut sealed = [0u8; 5 + GCM_TAG];
        cipher
            .encrypt(&iv, &aad, b"hello", &mut sealed)
            .expect("seal");
        let mut opened = [0u8; 5 + GCM_TAG];
        let n = cipher
            .decrypt(&iv, &[&aad[..6], &aad[6..]], &sealed, &mut opened)
            .expect("open");
        assert_eq!(&opened[..n], b"hello");
        sealed[0] ^= 1;
        assert!(cipher.decrypt(&iv, &[&aad], &sealed, &mut opened).is_err());
        assert!(
            cipher
                .decrypt(&iv, &[&aad], &sealed[..3], &mut opened)
                .is_err()
        );
    }

    #[test]
    fn counter_mode_matches_the_rfc_3711_test_vector() {
        // RFC 3711, B.2: keystream for session key 2B7E...3C and IV F0F1...FAFB0000 + counter 0.
        let key: [u8; 16] = hex::decode("2B7E151628AED2A6ABF7158809CF4F3C")
            .expect("hex")
            .try_into()
            .expect("16 bytes");
        let iv: [u8; 16] = hex::decode("F0F1F2F3F4F5F6F7F8F9FAFBFCFD0000")
            .expect("hex")
            .try_into()
            .expect("16 bytes");
        let mut keystream = [0u8; 16];
        CounterMode
            .create_cipher(key, true)
            .encrypt(&iv, &[0; 16], &mut keystream)
            .expect("encrypt");
        assert_eq!(
            hex::encode_upper(keystream),
            "E03EAD0935C95E80E166B16DD92B4EB4"
        );
    }

    #[test]
    fn an_ecb_round_writes_the_block_and_its_padding() {
        let mut out = [0u8; 32];
        RustCryptoSrtp.srtp_aes_128_ecb_round(&[3; 16], &[4; 16], &mut out);
        assert_ne!(out[..16], [0; 16]);
        assert_ne!(out[16..], [0; 16]);
    }
}
