//! The web page at `/`: what each park's billing system has sent, as a person would check it.
//!
//! Plain server-rendered HTML that reloads itself every 5 s; every piece of text that came from
//! a client is escaped. Times are shown in China Standard Time (UTC+8), where the parks are.

use std::collections::{HashMap, HashSet};
use std::fmt::Write;

use serde_json::Value;

use crate::link::text;
use crate::state::{Shared, State};
use crate::{Park, Received, StoredImage};

/// The most orders, barrier events and other images shown per park.
const SHOWN: usize = 200;

const STYLE: &str = "\
body{font:14px/1.45 system-ui,sans-serif;margin:0;background:#f4f5f7;color:#222}\
header{background:#1d3557;color:#fff;padding:12px 24px}\
header h1{margin:0;font-size:20px}header p{margin:4px 0 0;opacity:.8}\
header a{color:#cfe3ff}\
main{padding:16px 24px}\
section.park{background:#fff;border-radius:8px;box-shadow:0 1px 3px #0002;\
padding:12px 18px;margin-bottom:20px}\
h2{margin:4px 0 8px;font-size:18px}h2 small{color:#777;font-weight:normal}\
h3{margin:16px 0 6px;font-size:15px;color:#1d3557}\
table{border-collapse:collapse;width:100%}\
th,td{border-bottom:1px solid #e3e5e8;padding:4px 8px;text-align:left;vertical-align:top}\
th{background:#f0f2f5;font-weight:600}\
img{max-width:180px;max-height:120px;border-radius:4px;display:block}\
.none{color:#888;font-style:italic}\
.online{color:#2a7a2a}\
.gallery{display:flex;flex-wrap:wrap;gap:12px}\
figure{margin:0;background:#f7f7f9;padding:6px;border-radius:6px}\
figcaption{font-size:12px;color:#555;margin-top:4px}\
code{font-size:12px}";

/// The whole page.
pub(crate) fn render(shared: &Shared) -> String {
    let mut state = shared.lock();
    state.prune_images(shared.config.image_retention);

    let mut html = String::with_capacity(16 * 1024);
    html.push_str("<!DOCTYPE html>\n<html lang=\"zh\"><head><meta charset=\"utf-8\">");
    html.push_str("<meta http-equiv=\"refresh\" content=\"5\">");
    html.push_str("<title>bolink-sim</title><style>");
    html.push_str(STYLE);
    html.push_str("</style></head><body>\n<header><h1>bolink-sim</h1>");
    let _ = write!(
        html,
        "<p>{} messages received, {} pushed, {} images kept · \
         <a href=\"/api/status\">status</a> · <a href=\"/api/received\">received</a> · \
         <a href=\"/api/pushed\">pushed</a></p></header>\n<main>\n",
        state.received.len(),
        state.pushed.len(),
        state.images.len()
    );

    if shared.config.parks.is_empty() {
        html.push_str("<p class=\"none\">No park is configured.</p>\n");
    }
    for park in &shared.config.parks {
        park_section(&mut html, &state, park);
    }
    html.push_str("</main></body></html>\n");
    html
}

/// One park: who is online, its orders, its barrier events, its other images.
fn park_section(html: &mut String, state: &State, park: &Park) {
    let _ = writeln!(
        html,
        "<section class=\"park\"><h2>Park {} <small>union_id {}</small></h2>",
        escape(&park.park_id),
        escape(&park.union_id)
    );

    html.push_str("<h3>Online</h3>\n");
    let sessions: Vec<_> = state
        .sessions()
        .into_iter()
        .filter(|session| session.park_id == park.park_id)
        .collect();
    if sessions.is_empty() {
        html.push_str("<p class=\"none\">No session is logged in.</p>\n");
    } else {
        html.push_str("<ul>");
        for session in &sessions {
            let _ = write!(
                html,
                "<li class=\"online\">{} link: <code>{}</code></li>",
                session.link.as_str(),
                escape(session.local_id.as_deref().unwrap_or("(no local_id)"))
            );
        }
        html.push_str("</ul>\n");
    }

    let images: Vec<&StoredImage> = state
        .images
        .iter()
        .filter(|image| image.park_id == park.park_id)
        .collect();
    orders_table(html, &state.received, &images, &park.park_id);
    let shown_liftrods = barrier_table(html, &state.received, &images, &park.park_id);
    other_images(html, &images, &shown_liftrods);
    html.push_str("</section>\n");
}

/// One order as its entry and exit messages describe it.
#[derive(Default)]
struct Order {
    order_id: String,
    car_number: Option<String>,
    in_time: Option<Value>,
    out_time: Option<Value>,
    total: Option<String>,
    /// The last record that touched it, to sort newest first.
    last_seq: u64,
}

fn orders_table(html: &mut String, received: &[Received], images: &[&StoredImage], park_id: &str) {
    let mut orders: Vec<Order> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    for record in accepted(
        received,
        park_id,
        &["in_park", "inpark", "out_park", "outpark"],
    ) {
        let Some(order_id) = record.data.get("order_id").and_then(text) else {
            continue;
        };
        let at = *index.entry(order_id.clone()).or_insert_with(|| {
            orders.push(Order {
                order_id,
                ..Order::default()
            });
            orders.len() - 1
        });
        let order = &mut orders[at];
        let data = &record.data;
        if let Some(car_number) = data.get("car_number").and_then(text) {
            order.car_number = Some(car_number);
        }
        if let Some(in_time) = data.get("in_time") {
            order.in_time = Some(in_time.clone());
        }
        if let Some(out_time) = data.get("out_time") {
            order.out_time = Some(out_time.clone());
        }
        if let Some(total) = data.get("total").and_then(text) {
            order.total = Some(total);
        }
        order.last_seq = record.seq;
    }
    orders.sort_by_key(|order| std::cmp::Reverse(order.last_seq));

    // The latest image of each kind wins.
    let mut order_images: HashMap<(&str, &str), u64> = HashMap::new();
    for image in images
        .iter()
        .filter(|image| image.picture_source == "order")
    {
        if let (Some(order_id), Some(kind)) = (&image.order_id, &image.park_order_type) {
            order_images.insert((order_id.as_str(), kind.as_str()), image.id);
        }
    }

    html.push_str("<h3>Orders</h3>\n");
    if orders.is_empty() {
        html.push_str("<p class=\"none\">No order yet.</p>\n");
        return;
    }
    html.push_str(
        "<table><tr><th>order_id</th><th>car_number</th><th>in_time</th><th>out_time</th>\
         <th>total</th><th>entry image</th><th>exit image</th></tr>\n",
    );
    for order in orders.iter().take(SHOWN) {
        let _ = write!(
            html,
            "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>",
            escape(&order.order_id),
            escape(order.car_number.as_deref().unwrap_or("")),
            time_cell(order.in_time.as_ref()),
            time_cell(order.out_time.as_ref()),
            escape(order.total.as_deref().unwrap_or(""))
        );
        for (kind, label) in [("in", "entry"), ("out", "exit")] {
            html.push_str("<td>");
            if let Some(id) = order_images.get(&(order.order_id.as_str(), kind)) {
                let _ = write!(
                    html,
                    "<img src=\"/images/{id}\" data-order-id=\"{order_id}\" data-kind=\"{kind}\" \
                     alt=\"{label} image of order {order_id}\">",
                    order_id = escape(&order.order_id)
                );
            }
            html.push_str("</td>");
        }
        html.push_str("</tr>\n");
    }
    html.push_str("</table>\n");
}

/// The barrier events; returns the `liftrod_id`s shown, whose images are then not repeated.
fn barrier_table<'a>(
    html: &mut String,
    received: &[Received],
    images: &[&'a StoredImage],
    park_id: &str,
) -> HashSet<String> {
    let events: Vec<&Received> = accepted(received, park_id, &["upload_liftrod"]).collect();
    let mut liftrod_images: HashMap<&str, &'a StoredImage> = HashMap::new();
    for image in images
        .iter()
        .filter(|image| image.picture_source == "liftrod")
    {
        if let Some(liftrod_id) = &image.liftrod_id {
            liftrod_images.insert(liftrod_id.as_str(), image);
        }
    }

    let mut shown = HashSet::new();
    html.push_str("<h3>Barrier events</h3>\n");
    if events.is_empty() {
        html.push_str("<p class=\"none\">No barrier event yet.</p>\n");
        return shown;
    }
    html.push_str(
        "<table><tr><th>liftrod_id</th><th>channel_id</th><th>user_id</th><th>details</th>\
         <th>image</th></tr>\n",
    );
    for event in events.iter().rev().take(SHOWN) {
        let field = |name: &str| event.data.get(name).and_then(text).unwrap_or_default();
        let liftrod_id = field("liftrod_id");
        let _ = write!(
            html,
            "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td><td>",
            escape(&liftrod_id),
            escape(&field("channel_id")),
            escape(&field("user_id")),
            details(&event.data, &["liftrod_id", "channel_id", "user_id"])
        );
        if let Some(image) = liftrod_images.get(liftrod_id.as_str()) {
            let _ = write!(
                html,
                "<img src=\"/images/{}\" data-liftrod-id=\"{id}\" alt=\"image of barrier event {id}\">",
                image.id,
                id = escape(&liftrod_id)
            );
        }
        html.push_str("</td></tr>\n");
        shown.insert(liftrod_id);
    }
    html.push_str("</table>\n");
    shown
}

/// Images that belong to no order or barrier event shown above: confirm and capture images,
/// and barrier images whose event is not listed.
fn other_images(html: &mut String, images: &[&StoredImage], shown_liftrods: &HashSet<String>) {
    let others: Vec<&&StoredImage> = images
        .iter()
        .filter(|image| match image.picture_source.as_str() {
            "order" => false,
            "liftrod" => image
                .liftrod_id
                .as_ref()
                .is_none_or(|id| !shown_liftrods.contains(id)),
            _ => true,
        })
        .collect();

    html.push_str("<h3>Other images</h3>\n");
    if others.is_empty() {
        html.push_str("<p class=\"none\">No other image.</p>\n");
        return;
    }
    html.push_str("<div class=\"gallery\">\n");
    for image in others.iter().rev().take(SHOWN) {
        let (name, id) = match image.picture_source.as_str() {
            "confirm" => ("event_id", image.event_id.as_deref()),
            "capture" => ("uuid", image.uuid.as_deref()),
            _ => ("liftrod_id", image.liftrod_id.as_deref()),
        };
        let caption = format!("{} {name} {}", image.picture_source, id.unwrap_or(""));
        let _ = writeln!(
            html,
            "<figure><img src=\"/images/{}\" data-source=\"{}\" alt=\"{caption}\">\
             <figcaption>{caption}</figcaption></figure>",
            image.id,
            escape(&image.picture_source),
            caption = escape(&caption)
        );
    }
    html.push_str("</div>\n");
}

/// The park's records of these services that the simulator accepted (answered with state 1).
fn accepted<'a>(
    received: &'a [Received],
    park_id: &'a str,
    services: &'a [&'a str],
) -> impl Iterator<Item = &'a Received> {
    received.iter().filter(move |record| {
        record.park_id.as_deref() == Some(park_id)
            && services.contains(&record.service_name.as_str())
            && record
                .answer
                .as_ref()
                .and_then(|answer| answer.get("state"))
                == Some(&Value::from(1))
    })
}

/// The scalar fields of `data` other than `skip`, as escaped `name=value` text.
fn details(data: &Value, skip: &[&str]) -> String {
    let Value::Object(fields) = data else {
        return String::new();
    };
    let parts: Vec<String> = fields
        .iter()
        .filter(|(name, _)| !skip.contains(&name.as_str()))
        .filter_map(|(name, value)| text(value).map(|value| format!("{name}={value}")))
        .collect();
    escape(&parts.join(" "))
}

/// A unix time (seconds or milliseconds) shown as a date, with the raw value as a tooltip.
fn time_cell(value: Option<&Value>) -> String {
    let Some(raw) = value.and_then(text) else {
        return String::new();
    };
    match raw.parse::<i64>() {
        Ok(number) => {
            let seconds = if number > 100_000_000_000 {
                number / 1000
            } else {
                number
            };
            format!(
                "<span title=\"{}\">{}</span>",
                escape(&raw),
                china_time(seconds)
            )
        }
        Err(_) => escape(&raw),
    }
}

/// `YYYY-MM-DD HH:MM:SS` at UTC+8.
fn china_time(unix_seconds: i64) -> String {
    let local = unix_seconds + 8 * 3600;
    let (days, second_of_day) = (local.div_euclid(86_400), local.rem_euclid(86_400));
    let (year, month, day) = civil_date(days);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}",
        second_of_day / 3600,
        second_of_day / 60 % 60,
        second_of_day % 60
    )
}

/// The proleptic Gregorian date of a day counted from 1970-01-01.
fn civil_date(days: i64) -> (i64, i64, i64) {
    // Shift to an era calendar starting on 0000-03-01, so that the leap day ends each year.
    let shifted = days + 719_468;
    let era = shifted.div_euclid(146_097);
    let day_of_era = shifted.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Text made safe for HTML content and attribute values.
fn escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            _ => escaped.push(c),
        }
    }
    escaped
}

#[cfg(test)]
mod tests {
    use super::{china_time, escape};

    #[test]
    fn escapes_markup() {
        assert_eq!(
            escape(r#"<a href="x">'&'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
    }

    #[test]
    fn shows_unix_time_in_china() {
        assert_eq!(china_time(0), "1970-01-01 08:00:00");
        assert_eq!(china_time(1_700_000_000), "2023-11-15 06:13:20");
        assert_eq!(china_time(951_782_400), "2000-02-29 08:00:00");
    }
}
