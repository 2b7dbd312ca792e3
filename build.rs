//! On a Windows host, wdk-build configures the driver link (WDK library paths, /DRIVER,
//! /SUBSYSTEM:NATIVE, /ENTRY:DriverEntry, /INTEGRITYCHECK, ...) from
//! `[package.metadata.wdk]`. On any other host it does nothing: wdk-build is a
//! Windows-host-only build-dependency, so Linux `cargo test` needs no WDK. Without the
//! `driver` feature (the CLI's user-mode build of this library) it does nothing either.

#[cfg(all(windows, feature = "driver"))]
fn main() -> Result<(), wdk_build::ConfigError> {
    println!("cargo::rerun-if-changed=build.rs");
    wdk_build::configure_wdk_binary_build()
}

#[cfg(not(all(windows, feature = "driver")))]
fn main() {
    println!("cargo::rerun-if-changed=build.rs");
}
