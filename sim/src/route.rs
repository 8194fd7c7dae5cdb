//! Which sessions of a park a downstream message goes to.
//!
//! By link: payment messages (the bolink-target ones below) go to the park's bolink sessions
//! when it has any (legacy mode); everything else, and payment messages of a park without a
//! bolink session (4.x mode, where the cloud relays bolink), goes to its cloud sessions.
//!
//! By lane: a session whose login `local_id` contains `_channels_A1_A2` serves lanes `A1` and
//! `A2`. A message naming a lane (`channel_id`, `in_channel_id` or `out_channel_id`) goes only to
//! the sessions serving it; when none does, to the sessions that list no lanes; when every
//! session lists lanes and none that one, to all of them, so that the message is not lost (the
//! real cloud's choice in that case is not published).

use serde_json::Value;

use crate::LinkKind;
use crate::state::Session;

/// Downstream messages a legacy-mode SDK receives on its bolink link.
const BOLINK_TARGET: &[&str] = &[
    "query_price",
    "prepay_order",
    "nolicence_in_park",
    "outpark",
    "monthcard_pay",
    "repair",
    "update_park_soft",
    "pay_notice",
    "update_balance",
];

/// The lanes a login's `local_id` lists after `_channels_`, if it lists any.
pub(crate) fn lanes_of(local_id: &str) -> Option<Vec<String>> {
    let (_, list) = local_id.split_once("_channels_")?;
    let lanes: Vec<String> = list
        .split('_')
        .filter(|lane| !lane.is_empty())
        .map(str::to_owned)
        .collect();
    (!lanes.is_empty()).then_some(lanes)
}

/// The ids of the sessions among `sessions` (all of one park) that `message` goes to.
pub(crate) fn targets(sessions: &[(u64, &Session)], message: &Value) -> Vec<u64> {
    let service_name = message
        .get("service_name")
        .and_then(Value::as_str)
        .unwrap_or("");
    let on = |link: LinkKind| -> Vec<(u64, &Session)> {
        sessions
            .iter()
            .filter(|(_, session)| session.link == link)
            .copied()
            .collect()
    };
    let bolink = on(LinkKind::Bolink);
    let by_link = if BOLINK_TARGET.contains(&service_name) && !bolink.is_empty() {
        bolink
    } else {
        on(LinkKind::Cloud)
    };

    let ids = |chosen: &[(u64, &Session)]| chosen.iter().map(|(id, _)| *id).collect::<Vec<_>>();
    let Some(lane) = lane_of(message) else {
        return ids(&by_link);
    };
    let serving: Vec<_> = by_link
        .iter()
        .filter(|(_, session)| {
            session
                .lanes
                .as_ref()
                .is_some_and(|l| l.iter().any(|l| l == lane))
        })
        .copied()
        .collect();
    if !serving.is_empty() {
        return ids(&serving);
    }
    let unlisted: Vec<_> = by_link
        .iter()
        .filter(|(_, session)| session.lanes.is_none())
        .copied()
        .collect();
    if !unlisted.is_empty() {
        return ids(&unlisted);
    }
    ids(&by_link)
}

/// The lane a downstream message is meant for, if it names one.
fn lane_of(message: &Value) -> Option<&str> {
    ["channel_id", "in_channel_id", "out_channel_id"]
        .iter()
        .filter_map(|field| message.get(*field).and_then(Value::as_str))
        .find(|lane| !lane.is_empty())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::{lanes_of, targets};
    use crate::LinkKind;
    use crate::state::Session;

    fn session(link: LinkKind, local_id: &str) -> Session {
        Session {
            token: String::new(),
            key: String::new(),
            park_id: "1".to_owned(),
            link,
            local_id: Some(local_id.to_owned()),
            lanes: lanes_of(local_id),
            set_params: None,
        }
    }

    #[test]
    fn reads_the_lane_list_of_a_local_id() {
        assert_eq!(
            lanes_of("c48e8f750e19_2.1.2.5_liu_channels_A1_A2"),
            Some(vec!["A1".to_owned(), "A2".to_owned()])
        );
        assert_eq!(lanes_of("0071cc97102b_1001_qh321_quanhao-atest1"), None);
        assert_eq!(lanes_of("mac_2000_x_channels_"), None);
    }

    #[test]
    fn sends_payment_messages_to_bolink_and_others_to_cloud() {
        let cloud = session(LinkKind::Cloud, "m_2000_a");
        let bolink = session(LinkKind::Bolink, "m_2000_a");
        let both = [(1, &cloud), (2, &bolink)];

        assert_eq!(
            targets(&both, &json!({"service_name":"query_price"})),
            vec![2]
        );
        assert_eq!(
            targets(&both, &json!({"service_name":"price_sync"})),
            vec![1]
        );
        assert_eq!(
            targets(&both[..1], &json!({"service_name":"query_price"})),
            vec![1]
        );
    }

    #[test]
    fn sends_lane_messages_to_the_session_serving_the_lane() {
        let a = session(LinkKind::Cloud, "m_2000_x_channels_A1_A2");
        let b = session(LinkKind::Cloud, "m_2000_y_channels_B1");
        let plain = session(LinkKind::Cloud, "m_2000_z");
        let all = [(1, &a), (2, &b), (3, &plain)];

        assert_eq!(
            targets(&all, &json!({"service_name":"x","out_channel_id":"B1"})),
            vec![2]
        );
        assert_eq!(
            targets(&all, &json!({"service_name":"x","channel_id":"C9"})),
            vec![3]
        );
        assert_eq!(
            targets(&all[..2], &json!({"service_name":"x","channel_id":"C9"})),
            vec![1, 2]
        );
        assert_eq!(targets(&all, &json!({"service_name":"x"})), vec![1, 2, 3]);
    }
}
