//! `Signed`, `Signature`, `SignatureStatus` on Windows: `WinVerifyTrust` with
//! `WINTRUST_ACTION_GENERIC_VERIFY_V2` on the file's **embedded** Authenticode
//! signature (no UI, no revocation check, no network: `WTD_CACHE_ONLY_URL_RETRIEVAL`),
//! and the signer's name (`WTHelperProvDataFromStateData`,
//! `WTHelperGetProvSignerFromChain`, `CertGetNameStringW` with
//! `CERT_NAME_SIMPLE_DISPLAY_TYPE`, the leaf certificate's simple name, e.g.
//! "Microsoft Windows").
//!
//! Not done: catalog signatures (`CryptCATAdmin*`). Windows files signed only through a
//! catalog (many in System32) therefore read as `Signed=false`, `Unavailable` where
//! Sysmon says `true`, `Valid`. The result's words are the library's
//! (`user::disk::signature_facts`). Runs on `DiskFacts`' background thread, never on
//! the event path.

use std::ptr::{null, null_mut};

use notifyring::user::disk::{Signature, SignatureFacts, signature_facts};
use windows_sys::Win32::Foundation::HANDLE;
use windows_sys::Win32::Security::Cryptography::{CERT_NAME_SIMPLE_DISPLAY_TYPE, CertGetNameStringW};
use windows_sys::Win32::Security::WinTrust::{
    WINTRUST_ACTION_GENERIC_VERIFY_V2, WINTRUST_DATA, WINTRUST_DATA_0, WINTRUST_FILE_INFO,
    WTD_CACHE_ONLY_URL_RETRIEVAL, WTD_CHOICE_FILE, WTD_REVOKE_NONE, WTD_STATEACTION_CLOSE, WTD_STATEACTION_VERIFY,
    WTD_UI_NONE, WTHelperGetProvSignerFromChain, WTHelperProvDataFromStateData, WinVerifyTrust,
};

/// `WinVerifyTrust` on the file (see the module doc).
pub struct WinTrust;

impl Signature for WinTrust {
    fn verify(&self, path: &str) -> Option<SignatureFacts> {
        let wide: Vec<u16> = path.encode_utf16().chain(Some(0)).collect();
        let mut file = WINTRUST_FILE_INFO {
            cbStruct: size_of::<WINTRUST_FILE_INFO>().try_into().ok()?,
            pcwszFilePath: wide.as_ptr(),
            hFile: null_mut(),
            pgKnownSubject: null_mut(),
        };
        let mut data = WINTRUST_DATA {
            cbStruct: size_of::<WINTRUST_DATA>().try_into().ok()?,
            pPolicyCallbackData: null_mut(),
            pSIPClientData: null_mut(),
            dwUIChoice: WTD_UI_NONE,
            fdwRevocationChecks: WTD_REVOKE_NONE,
            dwUnionChoice: WTD_CHOICE_FILE,
            Anonymous: WINTRUST_DATA_0 { pFile: &raw mut file },
            dwStateAction: WTD_STATEACTION_VERIFY,
            hWVTStateData: null_mut(),
            pwszURLReference: null_mut(),
            dwProvFlags: WTD_CACHE_ONLY_URL_RETRIEVAL,
            dwUIContext: 0,
            pSignatureSettings: null_mut(),
        };
        let mut action = WINTRUST_ACTION_GENERIC_VERIFY_V2;
        // SAFETY: `data` is a complete WINTRUST_DATA whose `pFile` points at `file`,
        // whose path is `wide` (NUL-terminated); all outlive the call; no window.
        let code = unsafe { WinVerifyTrust(null_mut(), &raw mut action, (&raw mut data).cast()) };
        let signer = signer_name(data.hWVTStateData);
        data.dwStateAction = WTD_STATEACTION_CLOSE;
        // SAFETY: as above; closing releases the state data the verify call kept.
        unsafe { WinVerifyTrust(null_mut(), &raw mut action, (&raw mut data).cast()) };
        Some(signature_facts(code, signer))
    }
}

/// The leaf signer certificate's simple display name, from a verify call's state.
fn signer_name(state: HANDLE) -> Option<String> {
    if state.is_null() {
        return None;
    }
    // SAFETY: `state` is the open state data of a WinVerifyTrust call (not yet closed).
    let provider = unsafe { WTHelperProvDataFromStateData(state) };
    if provider.is_null() {
        return None;
    }
    // SAFETY: `provider` is the state's provider data, valid until the state is closed.
    let signer = unsafe { WTHelperGetProvSignerFromChain(provider, 0, 0, 0) };
    if signer.is_null() {
        return None;
    }
    // SAFETY: `signer` points at a CRYPT_PROVIDER_SGNR owned by the open state, which
    // outlives this function (the caller closes it after).
    let signer = unsafe { &*signer };
    let (count, chain) = (signer.csCertChain, signer.pasCertChain);
    if count == 0 || chain.is_null() {
        return None;
    }
    // SAFETY: `chain` holds `count` (>= 1) CRYPT_PROVIDER_CERTs; the first is the leaf.
    let cert = unsafe { (*chain).pCert };
    if cert.is_null() {
        return None;
    }
    let mut buf = [0u16; 512];
    let len = u32::try_from(buf.len()).unwrap_or(u32::MAX);
    // SAFETY: `cert` is a valid certificate context; `buf` holds `len` units.
    let n = unsafe { CertGetNameStringW(cert, CERT_NAME_SIMPLE_DISPLAY_TYPE, 0, null(), buf.as_mut_ptr(), len) };
    // `n` counts the terminating NUL; 1 means an empty name.
    let name = String::from_utf16_lossy(buf.get(..(n as usize).saturating_sub(1))?);
    (!name.is_empty()).then_some(name)
}
