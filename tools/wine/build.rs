//! The build script of the smoke lane's workspace view (tools/smoke-wine.sh,
//! target/windows-lane/ws-link). The repository's build.rs calls wdk-build only on a
//! Windows host; this is the same call on any host, so the driver linked on Linux gets
//! exactly the link flags and WDK library path wdk-build gives it on Windows.

fn main() -> Result<(), wdk_build::ConfigError> {
    println!("cargo::rerun-if-changed=tools/wine/build.rs");
    wdk_build::configure_wdk_binary_build()
}
