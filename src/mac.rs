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

#[cfg(not(target_os = "linux"))]
fn read_mac() -> Option<String> {
    // Reading adapters needs a platform API per system; until then the host can pass `mac`.
    None
}
