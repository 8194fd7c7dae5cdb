//! The first network adapter's MAC address, which the vendor's SDK puts in front of `local_id`.

/// 12 lowercase hex digits, or twelve zeros when no adapter can be read.
pub fn first_adapter_mac() -> String {
    read_mac().unwrap_or_else(|| "000000000000".to_string())
}

#[cfg(target_os = "linux")]
fn read_mac() -> Option<String> {
    let mut names: Vec<_> = std::fs::read_dir("/sys/class/net")
        .ok()?
        .filter_map(|entry| {
            entry
                .ok()
                .map(|e| e.file_name().to_string_lossy().into_owned())
        })
        .filter(|name| name != "lo")
        .collect();
    names.sort();
    names.into_iter().find_map(|name| {
        let text = std::fs::read_to_string(format!("/sys/class/net/{name}/address")).ok()?;
        let hex: String = text
            .trim()
            .chars()
            .filter(|c| c.is_ascii_hexdigit())
            .collect();
        (hex.len() == 12 && hex != "000000000000").then(|| hex.to_ascii_lowercase())
    })
}

#[cfg(windows)]
fn read_mac() -> Option<String> {
    windows::first_adapter()
}

#[cfg(not(any(target_os = "linux", windows)))]
fn read_mac() -> Option<String> {
    // Reading adapters needs a platform API per system; until then the host can pass `mac`.
    None
}

/// The adapters as iphlpapi's GetAdaptersInfo lists them, which is the order the vendor's DLL
/// takes its "first adapter" from. Declared here rather than through a bindings crate: it is one
/// function and the start of one struct.
#[cfg(windows)]
mod windows {
    use std::ffi::c_char;

    const ERROR_SUCCESS: u32 = 0;
    const ERROR_BUFFER_OVERFLOW: u32 = 111;
    const MIB_IF_TYPE_LOOPBACK: u32 = 24;

    /// The leading fields of IP_ADAPTER_INFO (iptypes.h), up to `Type`. Only read through
    /// pointers into the buffer GetAdaptersInfo filled, so the fields after `Type` may be left
    /// out.
    #[repr(C)]
    struct AdapterInfo {
        next: *const AdapterInfo,
        combo_index: u32,
        adapter_name: [c_char; 260],
        description: [c_char; 132],
        address_length: u32,
        address: [u8; 8],
        index: u32,
        kind: u32,
    }

    #[link(name = "iphlpapi")]
    unsafe extern "system" {
        fn GetAdaptersInfo(info: *mut AdapterInfo, size: *mut u32) -> u32;
    }

    /// The first adapter with a 6-byte, non-zero address, as 12 lowercase hex digits.
    pub(super) fn first_adapter() -> Option<String> {
        let mut size: u32 = 0;
        // SAFETY: a zero size with a NULL buffer only asks for the size needed.
        let mut status = unsafe { GetAdaptersInfo(std::ptr::null_mut(), &mut size) };
        let mut buffer: Vec<u64> = Vec::new();
        // The list may grow between the two calls; the retries cover an adapter appearing.
        for _ in 0..3 {
            if status != ERROR_BUFFER_OVERFLOW {
                break;
            }
            // u64 elements give the buffer the struct's alignment.
            buffer = vec![0u64; (size as usize).div_ceil(8)];
            // SAFETY: `buffer` holds at least `size` bytes, aligned for AdapterInfo.
            status = unsafe { GetAdaptersInfo(buffer.as_mut_ptr().cast(), &mut size) };
        }
        if status != ERROR_SUCCESS || buffer.is_empty() {
            return None;
        }

        let mut next = buffer.as_ptr().cast::<AdapterInfo>();
        while !next.is_null() {
            // SAFETY: GetAdaptersInfo succeeded, so `next` is the buffer's first entry or a
            // `next` link it wrote, both inside `buffer`, which lives until the function ends.
            let adapter = unsafe { &*next };
            let address = &adapter.address[..6];
            if adapter.address_length == 6
                && adapter.kind != MIB_IF_TYPE_LOOPBACK
                && address.iter().any(|&b| b != 0)
            {
                return Some(address.iter().map(|b| format!("{b:02x}")).collect());
            }
            next = adapter.next;
        }
        None
    }
}
