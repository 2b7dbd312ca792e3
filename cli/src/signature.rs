//! `Signed`, `Signature`, `SignatureStatus` on Windows, as Windows' own tools find them:
//!
//! 1. The file's **embedded** Authenticode signature: `WinVerifyTrust` with
//!    `WINTRUST_ACTION_GENERIC_VERIFY_V2` and `WTD_CHOICE_FILE`.
//! 2. If it has none (`TRUST_E_NOSIGNATURE`), a **catalog** that lists the file's hash
//!    (most of System32 is signed only that way): the file hashed by the catalog
//!    administrator (`CryptCATAdminAcquireContext2` with SHA256 and
//!    `CryptCATAdminCalcHashFromFileHandle2`; if that context finds no catalog, or those
//!    two functions do not exist, `CryptCATAdminAcquireContext` and
//!    `CryptCATAdminCalcHashFromFileHandle`, SHA1, as older catalogs are), a catalog found
//!    with `CryptCATAdminEnumCatalogFromHash`, its path from
//!    `CryptCATCatalogInfoFromContext`, and `WinVerifyTrust` with `WTD_CHOICE_CATALOG`
//!    (`WINTRUST_CATALOG_INFO`, member tag: the hash in upper-case hex). No catalog
//!    found: the embedded check's answer stands (`Signed=false`, `Unavailable`).
//!
//! Both checks: no UI, no revocation check, no network (`WTD_CACHE_ONLY_URL_RETRIEVAL`);
//! the signer's name from the check's state (`WTHelperProvDataFromStateData`,
//! `WTHelperGetProvSignerFromChain`, `CertGetNameStringW` with
//! `CERT_NAME_SIMPLE_DISPLAY_TYPE`: the leaf certificate's simple name, e.g. "Microsoft
//! Windows"; for a catalog, its signer's). Every state, catalog context and administrator
//! context is released (`WTD_STATEACTION_CLOSE`, `CryptCATAdminReleaseCatalogContext`,
//! `CryptCATAdminReleaseContext`).
//!
//! The two `…2` functions (Windows 8 and later) are looked up in wintrust.dll at run time,
//! as Microsoft's documentation of them says to, with windows-sys's declarations as their
//! types: Wine 8's wintrust.dll has no `CryptCATAdminCalcHashFromFileHandle2`, and a
//! static import of it would keep the program from starting there.
//!
//! The result's words are [`signature_facts`]' (cli/src/disk.rs). Runs on
//! `DiskFacts`' background thread, never on the event path.

use std::ptr::{null, null_mut};

use crate::disk::{Signature, SignatureFacts, signature_facts, trust};
use windows_sys::Win32::Foundation::{GENERIC_READ, HANDLE, INVALID_HANDLE_VALUE};
use windows_sys::Win32::Security::Cryptography::Catalog::{
    CATALOG_INFO, CryptCATAdminAcquireContext, CryptCATAdminAcquireContext2, CryptCATAdminCalcHashFromFileHandle,
    CryptCATAdminCalcHashFromFileHandle2, CryptCATAdminEnumCatalogFromHash, CryptCATAdminReleaseCatalogContext,
    CryptCATAdminReleaseContext, CryptCATCatalogInfoFromContext,
};
use windows_sys::Win32::Security::Cryptography::{
    BCRYPT_SHA256_ALGORITHM, CERT_NAME_SIMPLE_DISPLAY_TYPE, CERT_STRONG_SIGN_PARA, CertGetNameStringW,
};
use windows_sys::Win32::Security::WinTrust::{
    DRIVER_ACTION_VERIFY, WINTRUST_ACTION_GENERIC_VERIFY_V2, WINTRUST_CATALOG_INFO, WINTRUST_DATA, WINTRUST_DATA_0,
    WINTRUST_DATA_UNION_CHOICE, WINTRUST_FILE_INFO, WTD_CACHE_ONLY_URL_RETRIEVAL, WTD_CHOICE_CATALOG, WTD_CHOICE_FILE,
    WTD_REVOKE_NONE, WTD_STATEACTION_CLOSE, WTD_STATEACTION_VERIFY, WTD_UI_NONE, WTHelperGetProvSignerFromChain,
    WTHelperProvDataFromStateData, WinVerifyTrust,
};
use windows_sys::Win32::Storage::FileSystem::{
    CreateFileW, FILE_SHARE_DELETE, FILE_SHARE_READ, FILE_SHARE_WRITE, OPEN_EXISTING,
};
use windows_sys::Win32::System::LibraryLoader::{GetModuleHandleW, GetProcAddress};
use windows_sys::core::{BOOL, GUID, PCWSTR};

use crate::handle::Handle;

/// `WinVerifyTrust`, embedded signature then catalog (see the module doc).
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
        let (code, signer) = verify_trust(WTD_CHOICE_FILE, WINTRUST_DATA_0 { pFile: &raw mut file })?;
        if code == trust::NOSIGNATURE
            && let Some((code, signer)) = verify_catalog(&wide)
        {
            return Some(signature_facts(code, signer));
        }
        Some(signature_facts(code, signer))
    }
}

/// One `WinVerifyTrust` (generic verify, no UI, no revocation, no network) of `subject`
/// (a `WINTRUST_DATA` union member of kind `choice`): its result and the signer's name,
/// the state closed after. `None` only if the struct sizes do not fit a `u32`.
fn verify_trust(choice: WINTRUST_DATA_UNION_CHOICE, subject: WINTRUST_DATA_0) -> Option<(i32, Option<String>)> {
    let mut data = WINTRUST_DATA {
        cbStruct: size_of::<WINTRUST_DATA>().try_into().ok()?,
        pPolicyCallbackData: null_mut(),
        pSIPClientData: null_mut(),
        dwUIChoice: WTD_UI_NONE,
        fdwRevocationChecks: WTD_REVOKE_NONE,
        dwUnionChoice: choice,
        Anonymous: subject,
        dwStateAction: WTD_STATEACTION_VERIFY,
        hWVTStateData: null_mut(),
        pwszURLReference: null_mut(),
        dwProvFlags: WTD_CACHE_ONLY_URL_RETRIEVAL,
        dwUIContext: 0,
        pSignatureSettings: null_mut(),
    };
    let mut action = WINTRUST_ACTION_GENERIC_VERIFY_V2;
    // SAFETY: `data` is a complete WINTRUST_DATA whose union member (`subject`, of kind
    // `choice`) points at the caller's structure, which with its strings outlives this
    // function; no window.
    let code = unsafe { WinVerifyTrust(null_mut(), &raw mut action, (&raw mut data).cast()) };
    let signer = signer_name(data.hWVTStateData);
    data.dwStateAction = WTD_STATEACTION_CLOSE;
    // SAFETY: as above; closing releases the state data the verify call kept.
    unsafe { WinVerifyTrust(null_mut(), &raw mut action, (&raw mut data).cast()) };
    Some((code, signer))
}

/// `CryptCATAdminAcquireContext2`'s type: windows-sys's declaration (checked below).
type AcquireContext2 =
    unsafe extern "system" fn(*mut isize, *const GUID, PCWSTR, *const CERT_STRONG_SIGN_PARA, u32) -> BOOL;
/// `CryptCATAdminCalcHashFromFileHandle2`'s type: windows-sys's declaration.
type CalcHash2 = unsafe extern "system" fn(isize, HANDLE, *mut u32, *mut u8, u32) -> BOOL;
// The types are windows-sys's own: these coerce only if they match (never called, so
// never imported).
const _: AcquireContext2 = CryptCATAdminAcquireContext2;
const _: CalcHash2 = CryptCATAdminCalcHashFromFileHandle2;

/// The export `name` (NUL-terminated) of wintrust.dll, which this program imports (so it
/// is loaded, and stays loaded), or `None` where it has none.
fn wintrust_export(name: &[u8]) -> Option<unsafe extern "system" fn() -> isize> {
    let module: Vec<u16> = "wintrust.dll".encode_utf16().chain(Some(0)).collect();
    // SAFETY: `module` is NUL-terminated; no reference count is taken.
    let dll = unsafe { GetModuleHandleW(module.as_ptr()) };
    if dll.is_null() || name.last() != Some(&0) {
        return None;
    }
    // SAFETY: `dll` is a loaded module; `name` is a NUL-terminated ANSI string.
    unsafe { GetProcAddress(dll, name.as_ptr()) }
}

/// A catalog administrator context, released on drop.
struct CatAdmin(isize);

impl Drop for CatAdmin {
    fn drop(&mut self) {
        // SAFETY: `self.0` is a context this program acquired; nothing uses it after.
        unsafe { CryptCATAdminReleaseContext(self.0, 0) };
    }
}

/// How a file is hashed for catalogs: a context and the function that hashes with it.
enum Hasher {
    /// SHA256: `CryptCATAdminAcquireContext2` + `CryptCATAdminCalcHashFromFileHandle2`.
    Sha256(CalcHash2),
    /// SHA1: `CryptCATAdminAcquireContext` + `CryptCATAdminCalcHashFromFileHandle`.
    Sha1,
}

impl Hasher {
    /// The SHA256 hasher, where wintrust.dll has both functions; then SHA1.
    fn all() -> Vec<(Self, Option<AcquireContext2>)> {
        let acquire = wintrust_export(b"CryptCATAdminAcquireContext2\0").map(|f| {
            // SAFETY: that export has windows-sys's declaration, `AcquireContext2`.
            unsafe { core::mem::transmute::<unsafe extern "system" fn() -> isize, AcquireContext2>(f) }
        });
        let calc = wintrust_export(b"CryptCATAdminCalcHashFromFileHandle2\0").map(|f| {
            // SAFETY: that export has windows-sys's declaration, `CalcHash2`.
            unsafe { core::mem::transmute::<unsafe extern "system" fn() -> isize, CalcHash2>(f) }
        });
        let mut all = Vec::new();
        if let (Some(acquire), Some(calc)) = (acquire, calc) {
            all.push((Self::Sha256(calc), Some(acquire)));
        }
        all.push((Self::Sha1, None));
        all
    }

    /// A context for this hasher (the driver-verification subsystem, as Windows uses).
    fn context(&self, acquire: Option<AcquireContext2>) -> Option<CatAdmin> {
        let mut admin = 0isize;
        let ok = match (self, acquire) {
            // SAFETY: `admin` is writable; the subsystem GUID and the algorithm name are
            // static; no strong-hash policy; flags 0.
            (Self::Sha256(_), Some(acquire)) => unsafe {
                acquire(&raw mut admin, &DRIVER_ACTION_VERIFY, BCRYPT_SHA256_ALGORITHM, null(), 0)
            },
            // SAFETY: `admin` is writable; the subsystem GUID is static; flags 0.
            (Self::Sha1, _) => unsafe { CryptCATAdminAcquireContext(&raw mut admin, &DRIVER_ACTION_VERIFY, 0) },
            (Self::Sha256(_), None) => 0,
        };
        (ok != 0 && admin != 0).then_some(CatAdmin(admin))
    }

    /// The hash of the file `file` (opened for reading) with `admin`'s algorithm.
    fn hash(&self, admin: &CatAdmin, file: &Handle) -> Option<Vec<u8>> {
        // Large enough for any algorithm a catalog uses (SHA-512: 64 bytes).
        let mut hash = vec![0u8; 64];
        let mut len = u32::try_from(hash.len()).ok()?;
        let ok = match self {
            // SAFETY: `admin` is an open context, `file` an open file handle; `hash`
            // holds `len` bytes and `len` is writable; flags 0.
            Self::Sha256(calc) => unsafe { calc(admin.0, file.0, &raw mut len, hash.as_mut_ptr(), 0) },
            // SAFETY: as above, without a context (SHA1).
            Self::Sha1 => unsafe { CryptCATAdminCalcHashFromFileHandle(file.0, &raw mut len, hash.as_mut_ptr(), 0) },
        };
        hash.truncate(len as usize);
        (ok != 0 && !hash.is_empty()).then_some(hash)
    }
}

/// A catalog context from `CryptCATAdminEnumCatalogFromHash`, released on drop.
struct CatInfo<'a> {
    admin: &'a CatAdmin,
    info: isize,
}

impl Drop for CatInfo<'_> {
    fn drop(&mut self) {
        // SAFETY: `self.info` came from `self.admin`, which is still open (borrowed).
        unsafe { CryptCATAdminReleaseCatalogContext(self.admin.0, self.info, 0) };
    }
}

impl<'a> CatInfo<'a> {
    /// The first catalog of `admin` that lists `hash`.
    fn find(admin: &'a CatAdmin, hash: &[u8]) -> Option<Self> {
        let len = u32::try_from(hash.len()).ok()?;
        // SAFETY: `admin` is open; `hash` holds `len` bytes; flags 0; a null previous
        // context starts the enumeration.
        let info = unsafe { CryptCATAdminEnumCatalogFromHash(admin.0, hash.as_ptr(), len, 0, null_mut()) };
        (info != 0).then_some(Self { admin, info })
    }

    /// The catalog file's path, NUL-terminated.
    fn path(&self) -> Option<Vec<u16>> {
        let mut info = CATALOG_INFO { cbStruct: size_of::<CATALOG_INFO>().try_into().ok()?, wszCatalogFile: [0; 260] };
        // SAFETY: `self.info` is an open catalog context; `info` is writable, its size set.
        let ok = unsafe { CryptCATCatalogInfoFromContext(self.info, &raw mut info, 0) };
        let path: Vec<u16> = info.wszCatalogFile.iter().copied().take_while(|&u| u != 0).chain(Some(0)).collect();
        (ok != 0 && path.len() > 1).then_some(path)
    }
}

/// `hash` as a catalog member tag: upper-case hex, NUL-terminated UTF-16.
fn member_tag(hash: &[u8]) -> Vec<u16> {
    hash.iter().flat_map(|b| format!("{b:02X}").encode_utf16().collect::<Vec<_>>()).chain(Some(0)).collect()
}

/// The file `path` (NUL-terminated) opened for reading, sharing everything.
fn open_for_hash(path: &[u16]) -> Option<Handle> {
    // SAFETY: `path` is NUL-terminated and outlives the call; null security attributes
    // and template are allowed.
    let h = unsafe {
        CreateFileW(
            path.as_ptr(),
            GENERIC_READ,
            FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE,
            null(),
            OPEN_EXISTING,
            0,
            null_mut(),
        )
    };
    (h != INVALID_HANDLE_VALUE && !h.is_null()).then_some(Handle(h))
}

/// The catalog check of the file `path` (NUL-terminated): `WinVerifyTrust`'s result on
/// the first catalog that lists its hash, and that catalog's signer; `None` if no
/// catalog lists it (or it cannot be hashed).
fn verify_catalog(path: &[u16]) -> Option<(i32, Option<String>)> {
    for (hasher, acquire) in Hasher::all() {
        let Some(admin) = hasher.context(acquire) else { continue };
        // A fresh handle per hash: each starts at the file's beginning.
        let file = open_for_hash(path)?;
        let Some(mut hash) = hasher.hash(&admin, &file) else { continue };
        let Some(catalog) = CatInfo::find(&admin, &hash) else { continue };
        let Some(catalog_path) = catalog.path() else { continue };
        let tag = member_tag(&hash);
        let mut member = WINTRUST_CATALOG_INFO {
            cbStruct: size_of::<WINTRUST_CATALOG_INFO>().try_into().ok()?,
            dwCatalogVersion: 0,
            pcwszCatalogFilePath: catalog_path.as_ptr(),
            pcwszMemberTag: tag.as_ptr(),
            pcwszMemberFilePath: path.as_ptr(),
            hMemberFile: file.0,
            pbCalculatedFileHash: hash.as_mut_ptr(),
            cbCalculatedFileHash: u32::try_from(hash.len()).ok()?,
            pcCatalogContext: null_mut(),
            hCatAdmin: admin.0,
        };
        return verify_trust(WTD_CHOICE_CATALOG, WINTRUST_DATA_0 { pCatalog: &raw mut member });
    }
    None
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_member_tag_is_upper_case_hex() {
        let tag = member_tag(&[0x0a, 0xff, 0x10, 0x00]);
        assert_eq!(String::from_utf16_lossy(&tag), "0AFF1000\0");
    }

    /// Run on Windows (or Wine: tools/smoke-wine-cli.sh runs these). This test program is
    /// an unsigned PE that no catalog lists: the catalog path runs (a context, a hash)
    /// and finds nothing, so the embedded check's answer stands, as before catalogs.
    #[test]
    fn an_unsigned_file_in_no_catalog_stays_unsigned() {
        let exe = std::env::current_exe().expect("exe");
        let path = exe.to_str().expect("utf-8 path");
        let wide: Vec<u16> = path.encode_utf16().chain(Some(0)).collect();
        let sha1 = Hasher::Sha1.context(None).expect("a SHA1 catalog context");
        let file = open_for_hash(&wide).expect("opens");
        let hash = Hasher::Sha1.hash(&sha1, &file).expect("hashed");
        assert_eq!(hash.len(), 20, "SHA1");
        assert!(CatInfo::find(&sha1, &hash).is_none(), "no catalog lists this test program");
        assert_eq!(verify_catalog(&wide), None);
        let facts = WinTrust.verify(path).expect("checked");
        assert_eq!((facts.signed, facts.signature, facts.status.as_str()), (false, None, "Unavailable"));
    }
}
