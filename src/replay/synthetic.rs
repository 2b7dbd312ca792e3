//! The default replay input: a synthetic event stream, deterministic by seed, shaped on
//! the public recordings of the project's shared trace set (docs/replay.md, "Input"):
//!
//! * image paths: median 31–37 UTF-16 units, p99 60–153 (`System32` DLLs dominate, with
//!   Program Files, .NET and `WinSxS` paths in the tail);
//! * command lines: median 36–90, p99 140–750, a tail up to ~5,000 units, and now and
//!   then the 32,767-unit maximum a `UNICODE_STRING` allows;
//! * 10–100 image loads per process start, thread events ~20× process events;
//! * ~6 events/ms on average, with image-load bursts up to ~140/ms;
//! * odd text the recordings lack: surrogate pairs, unpaired surrogates, the right-to-left
//!   override, embedded NULs, non-Latin scripts.
//!
//! The first processes of every stream carry one of each odd case, so even a short run
//! shows them; later ones carry them at random.

use super::workload::{Accounts, Item, Timed, Workload, utf16};
use crate::event::ClientId;
use crate::user::starts::{StartPlace, StartRegion, ThreadStart};
use crate::vocab::token::TokenFacts;
use std::borrow::ToOwned;
use std::boxed::Box;
use std::collections::HashMap;
use std::string::String;
use std::vec::Vec;
use std::{format, vec};

/// `SplitMix64`: tiny, fast, and the same sequence everywhere for a seed.
struct Rng(u64);

impl Rng {
    const fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (0 if `n` is 0).
    fn below(&mut self, n: u64) -> u64 {
        u64::try_from((u128::from(self.next()) * u128::from(n)) >> 64).unwrap_or(0)
    }

    /// Uniform in `lo..=hi`.
    fn between(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi.saturating_sub(lo) + 1)
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        f64::from_bits(0x3ff0_0000_0000_0000 | (self.next() >> 12)) - 1.0
    }

    fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    /// Exponentially distributed, with this mean.
    fn exp_ns(&mut self, mean_ns: f64) -> u64 {
        to_u64(-(1.0 - self.unit()).ln() * mean_ns)
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        let i = usize::try_from(self.below(items.len() as u64)).unwrap_or(0);
        &items[i.min(items.len() - 1)]
    }

    /// An item from `(weight, item)` pairs.
    fn weighted<'a, T>(&mut self, items: &'a [(u32, T)]) -> &'a T {
        let total: u64 = items.iter().map(|(w, _)| u64::from(*w)).sum();
        let mut at = self.below(total);
        for (w, item) in items {
            if at < u64::from(*w) {
                return item;
            }
            at -= u64::from(*w);
        }
        &items[items.len() - 1].1
    }
}

#[expect(clippy::cast_possible_truncation, clippy::cast_sign_loss, reason = "clamped to u64's range first")]
const fn to_u64(x: f64) -> u64 {
    x.clamp(0.0, 1.8e19) as u64
}

/// Processes running before the stream starts: the simulated kernel can name them
/// (except System), and they make thread and image events of their own.
const RESIDENT: &[(u64, &str)] = &[
    (4, ""),
    (412, "\\SystemRoot\\System32\\smss.exe"),
    (532, "C:\\Windows\\System32\\csrss.exe"),
    (616, "C:\\Windows\\System32\\wininit.exe"),
    (660, "C:\\Windows\\System32\\services.exe"),
    (680, "C:\\Windows\\System32\\lsass.exe"),
    (792, "C:\\Windows\\System32\\svchost.exe"),
    (868, "C:\\Windows\\System32\\svchost.exe"),
    (1024, "C:\\Windows\\System32\\svchost.exe"),
    (4520, "C:\\Windows\\explorer.exe"),
    (5012, "C:\\Program Files (x86)\\Microsoft\\Edge\\Application\\msedge.exe"),
];
const EXPLORER: u64 = 4520;
const SERVICES: u64 = 660;
const SVCHOST: u64 = 868;
const EDGE: u64 = 5012;
const CSRSS: u64 = 532;

/// How a command line is built for a program.
#[derive(Clone, Copy)]
enum Args {
    /// Fixed text.
    Fixed(&'static str),
    /// A prefix, then base64-looking text of a length drawn from a heavy tail.
    Encoded(&'static str),
    /// A Chromium child process: ~300–750 units of switches.
    Chromium(&'static str),
    /// A Chromium child process, or the browser itself with `--profile-directory`.
    Child(&'static str),
}

/// A program the stream starts: its image path, parent and command line.
struct Program {
    image: &'static str,
    parent: u64,
    args: &'static [Args],
}

const PROGRAMS: &[(u32, Program)] = &[
    (
        24,
        Program {
            image: "C:\\Windows\\System32\\svchost.exe",
            parent: SERVICES,
            args: &[
                Args::Fixed("C:\\Windows\\system32\\svchost.exe -k netsvcs -p -s Schedule"),
                Args::Fixed("C:\\Windows\\System32\\svchost.exe -k LocalServiceNetworkRestricted -p -s lmhosts"),
                Args::Fixed("C:\\Windows\\system32\\svchost.exe -k UnistackSvcGroup -s CDPUserSvc"),
                Args::Fixed("C:\\Windows\\system32\\svchost.exe -k wsappx -p -s AppXSvc"),
            ],
        },
    ),
    (
        10,
        Program {
            image: "C:\\Windows\\System32\\conhost.exe",
            parent: EXPLORER,
            args: &[Args::Fixed("\\??\\C:\\Windows\\system32\\conhost.exe 0xffffffff -ForceV1")],
        },
    ),
    (
        7,
        Program {
            image: "C:\\Windows\\System32\\cmd.exe",
            parent: EXPLORER,
            args: &[
                Args::Fixed("\"C:\\Windows\\system32\\cmd.exe\""),
                Args::Fixed("C:\\Windows\\system32\\cmd.exe /c \"echo build > C:\\Temp\\out.txt\""),
                Args::Fixed("cmd.exe /c ping -n 1 127.0.0.1"),
            ],
        },
    ),
    (
        5,
        Program {
            image: "C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe",
            parent: EXPLORER,
            args: &[
                Args::Encoded("powershell.exe -NoProfile -NonInteractive -ExecutionPolicy Bypass -EncodedCommand "),
                Args::Fixed("\"C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe\" "),
            ],
        },
    ),
    (
        12,
        Program {
            image: "C:\\Program Files (x86)\\Microsoft\\Edge\\Application\\msedge.exe",
            parent: EDGE,
            args: &[
                Args::Chromium("\"C:\\Program Files (x86)\\Microsoft\\Edge\\Application\\msedge.exe\""),
                Args::Child("\"C:\\Program Files (x86)\\Microsoft\\Edge\\Application\\msedge.exe\""),
            ],
        },
    ),
    (
        4,
        Program {
            image: "C:\\Program Files\\Google\\Chrome\\Application\\chrome.exe",
            parent: EXPLORER,
            args: &[
                Args::Chromium("\"C:\\Program Files\\Google\\Chrome\\Application\\chrome.exe\""),
                Args::Child("\"C:\\Program Files\\Google\\Chrome\\Application\\chrome.exe\""),
            ],
        },
    ),
    (
        5,
        Program {
            image: "C:\\Windows\\System32\\rundll32.exe",
            parent: SVCHOST,
            args: &[Args::Fixed(
                "C:\\Windows\\system32\\rundll32.exe C:\\Windows\\system32\\shell32.dll,SHCreateLocalServerRunDll {9aa46009-3ce0-458a-a354-715610a075e6} -Embedding",
            )],
        },
    ),
    (
        5,
        Program {
            image: "C:\\Windows\\System32\\taskhostw.exe",
            parent: SVCHOST,
            args: &[Args::Fixed("taskhostw.exe {222A245B-E637-4AE9-A93F-A59CA119A75E}"), Args::Fixed("taskhostw.exe")],
        },
    ),
    (
        6,
        Program {
            image: "C:\\Windows\\System32\\dllhost.exe",
            parent: SVCHOST,
            args: &[Args::Fixed(
                "C:\\Windows\\system32\\DllHost.exe /Processid:{AB8902B4-09CA-4BB6-B78D-A8F59079A8D5}",
            )],
        },
    ),
    (
        5,
        Program {
            image: "C:\\Windows\\System32\\RuntimeBroker.exe",
            parent: SVCHOST,
            args: &[Args::Fixed("C:\\Windows\\System32\\RuntimeBroker.exe -Embedding")],
        },
    ),
    (
        4,
        Program {
            image: "C:\\Windows\\System32\\backgroundTaskHost.exe",
            parent: SVCHOST,
            args: &[Args::Fixed(
                "\"C:\\Windows\\system32\\backgroundTaskHost.exe\" -ServerName:App.AppXmtcan0h2tfbfy7k9kmk0qv4cmwn4wgtnn.mca",
            )],
        },
    ),
    (
        4,
        Program {
            image: "C:\\Windows\\System32\\wbem\\WmiPrvSE.exe",
            parent: SVCHOST,
            args: &[Args::Fixed("C:\\Windows\\system32\\wbem\\wmiprvse.exe -secured -Embedding")],
        },
    ),
    (
        2,
        Program {
            image: "C:\\Windows\\System32\\consent.exe",
            parent: 1024,
            args: &[Args::Fixed("consent.exe 8 336 0000026FE11A94A0")],
        },
    ),
    (
        2,
        Program {
            image: "C:\\Windows\\System32\\WerFault.exe",
            parent: SVCHOST,
            args: &[Args::Fixed("C:\\Windows\\system32\\WerFault.exe -u -p 7448 -s 1024")],
        },
    ),
    (
        1,
        Program {
            image: "C:\\Windows\\WinSxS\\amd64_microsoft-windows-servicingstack_31bf3856ad364e35_10.0.18362.1012_none_171983fb2a153d25\\TiWorker.exe",
            parent: SVCHOST,
            args: &[Args::Fixed(
                "C:\\Windows\\winsxs\\amd64_microsoft-windows-servicingstack_31bf3856ad364e35_10.0.18362.1012_none_171983fb2a153d25\\TiWorker.exe -Embedding",
            )],
        },
    ),
    (
        2,
        Program {
            image: "C:\\Users\\alice\\AppData\\Local\\Microsoft\\Teams\\current\\Teams.exe",
            parent: EXPLORER,
            args: &[Args::Chromium("\"C:\\Users\\alice\\AppData\\Local\\Microsoft\\Teams\\current\\Teams.exe\"")],
        },
    ),
    (
        2,
        Program {
            image: "C:\\ProgramData\\Microsoft\\Windows Defender\\Platform\\4.18.23110.3-0\\MpCmdRun.exe",
            parent: SVCHOST,
            args: &[Args::Fixed(
                "\"C:\\ProgramData\\Microsoft\\Windows Defender\\Platform\\4.18.23110.3-0\\MpCmdRun.exe\" SignaturesUpdateService -ScheduleJob -UnmanagedUpdate",
            )],
        },
    ),
    (
        1,
        Program {
            image: "C:\\Program Files\\WindowsApps\\Microsoft.WindowsTerminal_1.18.10301.0_x64__8wekyb3d8bbwe\\WindowsTerminal.exe",
            parent: EXPLORER,
            args: &[Args::Fixed(
                "\"C:\\Program Files\\WindowsApps\\Microsoft.WindowsTerminal_1.18.10301.0_x64__8wekyb3d8bbwe\\WindowsTerminal.exe\" -Embedding",
            )],
        },
    ),
];

/// DLLs every process maps first.
const FIRST_DLLS: &[&str] =
    &["ntdll.dll", "kernel32.dll", "KernelBase.dll", "msvcrt.dll", "sechost.dll", "rpcrt4.dll", "ucrtbase.dll"];

/// System32 DLLs mapped later, at random.
const SYSTEM32_DLLS: &[&str] = &[
    "advapi32.dll",
    "combase.dll",
    "bcryptprimitives.dll",
    "user32.dll",
    "win32u.dll",
    "gdi32.dll",
    "gdi32full.dll",
    "msvcp_win.dll",
    "imm32.dll",
    "shell32.dll",
    "shlwapi.dll",
    "ole32.dll",
    "oleaut32.dll",
    "windows.storage.dll",
    "profapi.dll",
    "powrprof.dll",
    "umpdc.dll",
    "cryptbase.dll",
    "wintrust.dll",
    "crypt32.dll",
    "msasn1.dll",
    "ws2_32.dll",
    "nsi.dll",
    "IPHLPAPI.DLL",
    "dnsapi.dll",
    "clbcatq.dll",
    "wldp.dll",
    "uxtheme.dll",
    "dwmapi.dll",
    "twinapi.appcore.dll",
    "CoreMessaging.dll",
    "TextInputFramework.dll",
    "CoreUIComponents.dll",
    "wintypes.dll",
    "kernel.appcore.dll",
    "SHCore.dll",
    "version.dll",
    "cfgmgr32.dll",
    "bcrypt.dll",
    "ntmarta.dll",
    "WinTypes.dll",
    "propsys.dll",
    "sspicli.dll",
    "userenv.dll",
    "mswsock.dll",
    "rsaenh.dll",
    "gpapi.dll",
    "WindowsCodecs.dll",
    "dxgi.dll",
    "d3d11.dll",
    "policymanager.dll",
    "msvcp110_win.dll",
    "smartscreenps.dll",
    "Windows.StateRepositoryPS.dll",
];

/// Longer paths: the tail of the image path length distribution.
const LONG_DLLS: &[(u32, &str)] = &[
    (20, "C:\\Windows\\Microsoft.NET\\Framework64\\v4.0.30319\\clr.dll"),
    (20, "C:\\Windows\\Microsoft.NET\\Framework64\\v4.0.30319\\mscoreei.dll"),
    (15, "C:\\Program Files (x86)\\Microsoft\\Edge\\Application\\120.0.2210.91\\msedge.dll"),
    (10, "C:\\Program Files\\Google\\Chrome\\Application\\120.0.6099.130\\chrome_elf.dll"),
    (
        15,
        "C:\\Windows\\WinSxS\\amd64_microsoft.windows.common-controls_6595b64144ccf1df_6.0.19041.1110_none_60b5254171f9507e\\comctl32.dll",
    ),
    (
        8,
        "C:\\Windows\\assembly\\NativeImages_v4.0.30319_64\\System.Management.A#\\4f8c4d6b8a3e2f1c0b9d8e7f6a5b4c3d\\System.Management.Automation.ni.dll",
    ),
    (
        4,
        "C:\\Program Files\\WindowsApps\\Microsoft.WindowsTerminal_1.18.10301.0_x64__8wekyb3d8bbwe\\Microsoft.Terminal.Control.dll",
    ),
];

/// Kernel-mode images (process 0).
const DRIVERS: &[&str] = &["fltMgr.sys", "ksecdd.sys", "Ntfs.sys", "tcpip.sys", "afd.sys", "WdFilter.sys", "vmbus.sys"];

/// Exit statuses and how often they occur.
const EXIT_STATUS: &[(u32, u32)] =
    &[(85, 0), (8, 1), (3, 0xc000_0005), (2, 0xc000_013a), (1, 0xe043_4352), (1, 0x0000_0103)];

/// How many odd cases [`odd_case`] knows.
const ODD_CASES: u64 = 7;

/// The odd strings the recordings lack, as UTF-16 units: image path, command line.
fn odd_case(which: u64) -> (Vec<u16>, Vec<u16>) {
    match which % ODD_CASES {
        // Surrogate pairs (emoji, a supplementary-plane letter) and non-Latin scripts.
        0 => (
            utf16("C:\\Users\\bob\\Desktop\\\u{1F600}party\u{1F389}.exe").into_vec(),
            utf16("\"C:\\Users\\bob\\Desktop\\\u{1F600}party\u{1F389}.exe\" --name \u{1D4B3} \u{7530}\u{4E2D}").into_vec(),
        ),
        // Unpaired surrogates: a lone high one in the path, a lone low one in the arguments.
        1 => {
            let mut image = utf16("C:\\Temp\\lone").into_vec();
            image.push(0xd83d);
            image.extend(utf16("x.exe").iter());
            let mut cmd = utf16("C:\\Temp\\lonex.exe --tag ").into_vec();
            cmd.push(0xdc00);
            cmd.extend(utf16(" end").iter());
            (image, cmd)
        }
        // The right-to-left override: shows as "invoice_exe.pdf".
        2 => (
            utf16("C:\\Users\\bob\\Downloads\\invoice_\u{202E}fdp.exe").into_vec(),
            utf16("\"C:\\Users\\bob\\Downloads\\invoice_\u{202E}fdp.exe\" /silent").into_vec(),
        ),
        // Embedded NULs, which a C string would cut.
        3 => (
            utf16("C:\\Temp\\hidden\0.exe").into_vec(),
            utf16("C:\\Temp\\hidden\0.exe --after-nul\0visible?").into_vec(),
        ),
        // The longest command line a UNICODE_STRING can carry.
        4 => {
            let mut cmd = utf16("cmd.exe /c echo ").into_vec();
            cmd.resize(32_767, u16::from(b'A'));
            (utf16("C:\\Windows\\System32\\cmd.exe").into_vec(), cmd)
        }
        // The longest command line in the recordings: a 5,141-unit encoded script.
        5 => {
            let mut cmd = utf16("powershell.exe -NoProfile -NonInteractive -EncodedCommand ").into_vec();
            let pad = (0..).map(|i| u16::from(BASE64[i % BASE64.len()]));
            cmd.extend(pad.take(5_141 - cmd.len()));
            (utf16("C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe").into_vec(), cmd)
        }
        // Cyrillic, accented Latin, Japanese.
        _ => (
            utf16("C:\\Users\\Jos\u{e9} M\u{fc}ller\\Downloads\\\u{443}\u{441}\u{442}\u{430}\u{43d}\u{43e}\u{432}\u{43a}\u{430}.exe")
                .into_vec(),
            utf16("\"C:\\Users\\\u{7530}\u{4E2D}\\\u{30c7}\u{30b9}\u{30af}\u{30c8}\u{30c3}\u{30d7}\\\u{30c4}\u{30fc}\u{30eb}.exe\" /q")
                .into_vec(),
        ),
    }
}

const BASE64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

fn command_line(rng: &mut Rng, program: &Program) -> String {
    match *rng.pick(program.args) {
        Args::Fixed(s) => s.to_owned(),
        Args::Encoded(prefix) => {
            // Heavy tail: mostly short scripts, sometimes pages of them (max ~5,100).
            let len = match rng.below(100) {
                0..=69 => rng.between(40, 300),
                70..=94 => rng.between(300, 700),
                _ => rng.between(700, 5_060),
            };
            let mut s = prefix.to_owned();
            s.extend((0..len).map(|_| char::from(*rng.pick(BASE64))));
            s
        }
        Args::Chromium(exe) => {
            let id = rng.below(64);
            let mut s = format!(
                "{exe} --type=renderer --lang=en-US --js-flags=--ms-user-locale= --device-scale-factor=1 \
                 --num-raster-threads=2 --enable-main-frame-before-activation --renderer-client-id={id} \
                 --time-ticks-at-unix-epoch=-1703153640917530 --launch-time-ticks={} \
                 --mojo-platform-channel-handle={} --field-trial-handle=2056,i,{},{},262144",
                rng.below(1 << 40),
                rng.between(1_000, 9_999),
                rng.next(),
                rng.next(),
            );
            let extra = rng.below(3);
            for _ in 0..extra {
                s.push_str(" --enable-features=msEdgeFluentOverlayScrollbar,msOverlayScrollbarWinStyle:scrollbar_mode/full_mode");
            }
            s.push_str(" /prefetch:1");
            s
        }
        Args::Child(exe) => {
            if rng.chance(0.5) {
                format!("{exe} --profile-directory=Default")
            } else {
                format!(
                    "{exe} --type=utility --utility-sub-type=network.mojom.NetworkService --lang=en-US \
                     --service-sandbox-type=none --mojo-platform-channel-handle={} /prefetch:3",
                    rng.between(1_000, 9_999)
                )
            }
        }
    }
}

/// Allocates process and thread ids the Windows way (multiples of 4).
struct Ids {
    next_pid: u64,
    next_tid: u64,
}

impl Ids {
    fn pid(&mut self, rng: &mut Rng) -> u64 {
        self.next_pid += 4 * rng.between(1, 8);
        if self.next_pid > 60_000 {
            self.next_pid = 6_000;
        }
        self.next_pid
    }

    fn tid(&mut self, rng: &mut Rng) -> u64 {
        self.next_tid += 4 * rng.between(1, 3);
        if self.next_tid > 120_000 {
            self.next_tid = 6_004;
        }
        self.next_tid
    }
}

/// Events of one process's life, in its own order, with times.
struct Life {
    events: Vec<Timed>,
}

impl Life {
    fn push(&mut self, t_ns: u64, item: Item) {
        // Strictly increasing within a process keeps its order through the global sort.
        let t_ns = self.events.last().map_or(t_ns, |last| t_ns.max(last.t_ns + 1));
        self.events.push(Timed { t_ns, item });
    }
}

fn dll_path(rng: &mut Rng) -> String {
    match rng.below(1000) {
        0..=899 => format!("C:\\Windows\\System32\\{}", rng.pick(SYSTEM32_DLLS)),
        900..=989 => (*rng.weighted(LONG_DLLS)).to_owned(),
        990..=994 => "C:\\Users\\Jos\u{e9}\\AppData\\Local\\Temp\\\u{fc}bersicht\\helper.dll".to_owned(),
        _ => format!("\\Device\\HarddiskVolume3\\Windows\\System32\\{}", rng.pick(SYSTEM32_DLLS)),
    }
}

fn signature(path: &[u16]) -> (u8, u8) {
    let system = path.starts_with(&utf16("C:\\Windows")) || path.starts_with(&utf16("\\Device"));
    if system { (12, 1) } else { (4, 1) }
}

fn image_load(rng: &mut Rng, pid: u64, path: Box<[u16]>) -> Item {
    let (signature_level, signature_type) = signature(&path);
    Item::ImageLoad {
        pid,
        base: 0x7ff8_0000_0000 + rng.below(0x8_0000) * 0x1_0000,
        size: rng.between(4, 0x800) * 0x1000,
        kernel_image: false,
        signature_level,
        signature_type,
        image: Some(path),
    }
}

/// One process start at `t0`, and everything it does until it exits.
fn process(rng: &mut Rng, ids: &mut Ids, t0: u64, index: u64) -> Life {
    let pid = ids.pid(rng);
    let program = rng.weighted(PROGRAMS);
    // The first processes carry one odd case each; later ones now and then.
    let odd = if (1..=ODD_CASES).contains(&index) {
        Some(index - 1)
    } else if rng.chance(0.004) {
        Some(rng.below(ODD_CASES))
    } else if rng.chance(0.001) {
        Some(4)
    } else {
        None
    };
    let (image, command_line) = odd.map_or_else(
        || (utf16(program.image), utf16(&command_line(rng, program))),
        |which| {
            let (image, cmd) = odd_case(which);
            (image.into_boxed_slice(), cmd.into_boxed_slice())
        },
    );
    let parent = program.parent;
    let creator = ClientId { pid: parent, tid: ids.tid(rng) };
    let subsystem_process = rng.chance(0.005);
    let image = (!rng.chance(0.005)).then_some(image);
    let command_line = (!rng.chance(0.01)).then_some(command_line);
    let mut life = Life { events: Vec::new() };
    life.push(
        t0,
        Item::ProcessCreate {
            pid,
            parent_pid: parent,
            creator,
            file_open_name_available: image.is_some() && !rng.chance(0.02),
            subsystem_process,
            image: image.clone(),
            command_line,
        },
    );
    // The initial thread, created by the parent's creating thread inside process
    // creation (so by another process, yet not a remote thread), before any other.
    let main_tid = ids.tid(rng);
    let mut t = t0 + rng.between(2_000, 20_000);
    life.push(t, Item::ThreadCreate { pid, tid: main_tid, creator });
    let main_t = t;

    // Image loads: the executable and the usual first DLLs in a tight burst, then the rest
    // in bursts (~140/ms) separated by pauses.
    let loads = 10 + u64::midpoint(rng.below(91), rng.below(91));
    let exe_image = image.unwrap_or_else(|| utf16("C:\\Windows\\System32\\svchost.exe"));
    let mut base = 0x7ff6_0000_0000 + rng.below(0x1_0000) * 0x1_0000;
    for n in 0..loads {
        let path = match usize::try_from(n) {
            Ok(0) => exe_image.clone(),
            Ok(i) if i <= FIRST_DLLS.len() => utf16(&format!("C:\\Windows\\System32\\{}", FIRST_DLLS[i - 1])),
            _ => utf16(&dll_path(rng)),
        };
        t += if n < 8 || rng.chance(0.6) { rng.exp_ns(7_000.0) } else { rng.exp_ns(1_500_000.0) };
        let mut load = image_load(rng, pid, path);
        if let Item::ImageLoad { base: b, .. } = &mut load
            && n == 0
        {
            *b = base;
            base += 0x1_0000;
        }
        life.push(t, load);
    }

    // Threads: ~20 per process, each created while the process runs and gone before it exits.
    let lifetime = if rng.chance(0.1) { rng.exp_ns(20e9) } else { rng.exp_ns(1.2e9) } + 5_000_000;
    let threads = 4 + rng.below(30);
    let mut thread_events = Vec::new();
    let mut tids = vec![main_tid];
    for _ in 0..threads {
        let tid = ids.tid(rng);
        // Every other thread comes after the initial one.
        let created = (t0 + rng.below(lifetime)).max(main_t + 1);
        let exited = created + rng.below(t0 + lifetime - created);
        let creator = if rng.chance(0.02) {
            ClientId { pid: if rng.chance(0.5) { CSRSS } else { EXPLORER }, tid: 9_000 }
        } else {
            ClientId { pid, tid: *rng.pick(&tids) }
        };
        tids.push(tid);
        thread_events.push((created, Item::ThreadCreate { pid, tid, creator }));
        thread_events.push((exited, Item::ThreadExit { pid, tid }));
    }
    thread_events.sort_by_key(|(t, _)| *t);
    for (t, item) in thread_events {
        life.push(t, item);
    }
    let end = t0 + lifetime;
    life.push(end, Item::ThreadExit { pid, tid: main_tid });
    life.push(end + 1_000, Item::ProcessExit { pid, exit_status: *rng.weighted(EXIT_STATUS) });
    life
}

/// Activity of the processes that were already running: thread churn, late DLL loads,
/// and now and then a driver load.
fn background(rng: &mut Rng, ids: &mut Ids, t0: u64, out: &mut Vec<Timed>) {
    if rng.chance(0.8) {
        let (pid, _) = *rng.pick(RESIDENT);
        let tid = ids.tid(rng);
        let t = t0 + rng.below(10_000_000);
        let own = ClientId { pid, tid: 8 + 4 * rng.below(20) };
        // Now and then (by thread id, so the random sequence stays as it was) a thread
        // comes from Explorer instead: an injection into a process that was running before
        // the driver, which the worker tells remote by that process's age.
        let injected = tid.is_multiple_of(256) && pid != EXPLORER && pid != crate::worker::SYSTEM_PID;
        let creator = if injected { ClientId { pid: EXPLORER, tid: 9_004 } } else { own };
        out.push(Timed { t_ns: t, item: Item::ThreadCreate { pid, tid, creator } });
        out.push(Timed { t_ns: t + rng.between(100_000, 9_000_000), item: Item::ThreadExit { pid, tid } });
    }
    if rng.chance(0.3) {
        let (pid, _) = *rng.pick(&RESIDENT[1..]);
        let path = utf16(&dll_path(rng));
        out.push(Timed { t_ns: t0 + rng.below(10_000_000), item: image_load(rng, pid, path) });
    }
    if rng.chance(0.02) {
        let driver = utf16(&format!("\\SystemRoot\\System32\\drivers\\{}", rng.pick(DRIVERS)));
        out.push(Timed {
            t_ns: t0 + rng.below(10_000_000),
            item: Item::ImageLoad {
                pid: 0,
                base: 0xffff_f800_0000_0000 + rng.below(0x10_0000) * 0x1000,
                size: rng.between(16, 0x400) * 0x1000,
                kernel_image: true,
                signature_level: 14,
                signature_type: 3,
                image: Some(driver),
            },
        });
    }
}

/// A synthetic stream of exactly `events` events (if `events` > 0), deterministic by `seed`.
#[must_use]
pub fn generate(seed: u64, events: usize) -> Workload {
    let mut rng = Rng(seed);
    let mut ids = Ids { next_pid: 6_000, next_tid: 6_004 };
    // Long-lived processes push their later events far ahead: generate a margin beyond
    // `events`, then keep the earliest, so the stream is as dense at its end as elsewhere.
    let target = events.saturating_add(events / 2);
    let mut all: Vec<Timed> = Vec::with_capacity(target + 1024);
    let mut t0 = 0u64;
    let mut index = 0u64;
    while all.len() < target {
        // A new process every ~15 ms on average: ~6 events/ms overall.
        t0 += rng.exp_ns(15e6);
        all.extend(process(&mut rng, &mut ids, t0, index).events);
        background(&mut rng, &mut ids, t0, &mut all);
        index += 1;
    }
    // Stable: each process's events keep their order (their times strictly increase).
    all.sort_by_key(|e| e.t_ns);
    all.truncate(events);
    let processes =
        RESIDENT.iter().filter(|(_, image)| !image.is_empty()).map(|(pid, image)| (*pid, utf16(image))).collect();
    let (tokens, accounts) = tokens(&all);
    let (thread_starts, start_places) = starts(&all);
    Workload {
        events: all,
        processes,
        command_lines: HashMap::new(),
        // Synthetic files have no version resource, hashes or signature.
        file_facts: HashMap::new(),
        tokens,
        accounts,
        thread_starts,
        start_places,
        sources: vec![format!("synthetic workload (seed {seed}, {events} events)")],
        malformed: Vec::new(),
        malformed_lines: 0,
    }
}

/// Start facts by (pid, tid), and their places by (pid, address): see [`Workload`].
type Starts = (HashMap<(u64, u64), ThreadStart>, HashMap<(u64, u64), StartPlace>);

/// Start addresses for the threads another process creates, by creator, as the recordings
/// show them: csrss.exe's console control threads start at `KERNELBASE!CtrlRoutine`,
/// Explorer's "injections" in private memory (outside every image). First threads have
/// none: the worker never asks for theirs.
fn starts(events: &[Timed]) -> Starts {
    const CTRL_ROUTINE: u64 = 0x7ff8_9c86_5ea0;
    const KERNELBASE: u64 = 0x7ff8_9c80_0000;
    let (mut addresses, mut places) = (HashMap::new(), HashMap::new());
    for e in events {
        let Item::ThreadCreate { pid, tid, creator } = e.item else { continue };
        let (start, place) = match creator.pid {
            CSRSS => (
                ThreadStart { address: CTRL_ROUTINE, region: StartRegion::Image { base: KERNELBASE } },
                StartPlace::Image {
                    path: "C:\\Windows\\System32\\KernelBase.dll".to_owned(),
                    function: Some("CtrlRoutine".to_owned()),
                },
            ),
            EXPLORER => (
                ThreadStart { address: 0x2ba_a070_0000 + ((tid & 0xffff) << 16), region: StartRegion::NoImage },
                StartPlace::NoImage,
            ),
            _ => continue,
        };
        let address = start.address;
        addresses.insert((pid, tid), start);
        places.insert((pid, address), place);
    }
    (addresses, places)
}

/// Token facts for the synthetic process creates: a service host's children run as
/// SYSTEM in session 0's logon (0x3e7), everything else as one interactive user.
fn tokens(events: &[Timed]) -> (HashMap<usize, TokenFacts>, Accounts) {
    let mut accounts = Accounts::default();
    let system = accounts.sid_of("NT AUTHORITY\\SYSTEM");
    let user = accounts.sid_of("WORKSTATION\\user");
    let tokens = events
        .iter()
        .enumerate()
        .filter_map(|(i, e)| match e.item {
            Item::ProcessCreate { parent_pid, .. } if parent_pid == SERVICES || parent_pid == SVCHOST => Some((
                i,
                TokenFacts { user: system, integrity: Some(0x4000), app_container: false, logon_id: Some(0x3e7) },
            )),
            Item::ProcessCreate { .. } => {
                Some((i, TokenFacts { user, integrity: Some(0x2000), app_container: false, logon_id: Some(0x2_f4c1) }))
            }
            _ => None,
        })
        .collect();
    (tokens, accounts)
}
