package demo;

import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import sdk.InterfacePark;
import sdk.UploadUtil;

/**
 * A billing program written for the vendor's Java SDK (sdk.UploadUtil, sdk.InterfacePark) and
 * nothing else: init, an entry, the cloud's query_price answered from inside receive, the exit,
 * and calls that must fail.
 *
 * <p>Input: BOLINK_INIT_JSON (the init JSON) and BOLINK_ORDER_ID (the order to use). Prints what
 * it does; exits 1 on the first failure.
 */
public class ParkDemo {

    static final CountDownLatch priceAnswered = new CountDownLatch(1);
    static final AtomicInteger received = new AtomicInteger();
    static volatile String problem;

    /** The park's receiver: answers price queries, fails on purpose on a test message. */
    static class ParkReceiver extends InterfacePark {
        @Override
        public void receive(String msg) {
            received.incrementAndGet();
            say("receive on " + Thread.currentThread().getName() + ": " + msg);
            if (msg.contains("\"service_name\":\"test_throw\"")) {
                throw new IllegalStateException("receiver failed on purpose");
            }
            if (!msg.contains("\"service_name\":\"query_price\"")) {
                return;
            }
            String reply = "{\"service_name\":\"query_price\",\"data_target\":\"bolink\","
                    + "\"state\":1,\"errmsg\":\"\",\"query_order_no\":\""
                    + field(msg, "query_order_no") + "\",\"order_id\":\"" + field(msg, "order_id")
                    + "\",\"price\":\"5.00\",\"total\":\"5.00\",\"duration\":60,"
                    + "\"free_out_time\":15,\"query_time\":1700003600,\"derate_money\":\"0.00\","
                    + "\"derate_duration\":0}";
            String answer = UploadUtil.uploadData(reply);
            say("reply query_price -> " + answer);
            if (!answer.contains("\"state\":1")) {
                problem = "the reply was refused: " + answer;
            }
            priceAnswered.countDown();
        }
    }

    public static void main(String[] args) throws Exception {
        String init = System.getenv("BOLINK_INIT_JSON");
        String orderId = System.getenv("BOLINK_ORDER_ID");
        if (init == null || orderId == null) {
            fail("BOLINK_INIT_JSON and BOLINK_ORDER_ID must be set");
        }

        expectError("init(null)", UploadUtil.init(null), "null");
        expectError("init(malformed)", UploadUtil.init("{\"union_id\":"), "JSON");
        expectOk("init", UploadUtil.init(init));
        expectError("init again", UploadUtil.init(init), "sdk has been initialized!");

        UploadUtil.setInterfacePark(new ParkReceiver());

        expectOk("uploadInParkOrder", UploadUtil.uploadInParkOrder("{\"car_number\":\"京A54321\","
                + "\"in_time\":1700000000,\"car_type\":\"小车\",\"c_type\":\"通道扫牌\","
                + "\"uid\":\"100\",\"order_id\":\"" + orderId + "\",\"empty_plot\":20,"
                + "\"in_channel_id\":\"A1\"}"));

        expectError("uploadInParkOrder(null)", UploadUtil.uploadInParkOrder(null), "null");
        expectError("uploadOutParkOrder(missing fields)",
                UploadUtil.uploadOutParkOrder("{\"car_number\":\"京A1\"}"), "missing");
        expectError("uploadData(null)", UploadUtil.uploadData(null), "null");
        expectError("getPayStatus(null)", UploadUtil.getPayStatus(null), "null");
        expectOk("getPayStatus", UploadUtil.getPayStatus(
                "{\"service_name\":\"pay_status\",\"car_number\":\"京A54321\"}"));

        say("waiting for the cloud's query_price");
        if (!priceAnswered.await(30, TimeUnit.SECONDS)) {
            fail("no query_price was answered within 30 s");
        }
        if (problem != null) {
            fail(problem);
        }
        if (received.get() < 2) {
            fail("the receiver did not get the message it failed on before the query");
        }

        expectOk("uploadOutParkOrder", UploadUtil.uploadOutParkOrder("{\"car_number\":"
                + "\"京A54321\",\"in_time\":1700000000,\"out_time\":1700003600,\"uid\":\"100\","
                + "\"pay_type\":\"cash\",\"empty_plot\":21,\"total\":\"5.00\",\"order_id\":\""
                + orderId + "\",\"car_type\":\"小车\",\"c_type\":\"通道扫牌\",\"out_uid\":\"100\","
                + "\"amount_receivable\":\"5.00\"}"));

        // Sent after the exit on the same link, so its answer means the exit went out too.
        expectOk("uploadDataSync", UploadUtil.uploadDataSync("{\"service_name\":"
                + "\"upload_collector\",\"data_target\":\"cloud\",\"user_id\":\"u100\","
                + "\"operate_type\":1}"));

        UploadUtil.setInterfacePark(null);
        UploadUtil.unInit();
        expectError("uploadData after unInit", UploadUtil.uploadData(
                "{\"service_name\":\"park_log\",\"data_target\":\"cloud\"}"), "not initialized");
        say("java: all steps passed");
    }

    /** The string value of a top-level key in a flat JSON message. */
    static String field(String json, String key) {
        String pattern = "\"" + key + "\":\"";
        int start = json.indexOf(pattern);
        if (start < 0) {
            throw new IllegalArgumentException("no " + key + " in " + json);
        }
        start += pattern.length();
        return json.substring(start, json.indexOf('"', start));
    }

    static void expectOk(String what, String answer) {
        say(what + " -> " + answer);
        if (answer == null || !answer.contains("\"state\":1")) {
            fail(what + " failed: " + answer);
        }
    }

    static void expectError(String what, String answer, String reason) {
        say(what + " -> " + answer);
        if (answer == null || !answer.contains("\"state\":0") || !answer.contains(reason)) {
            fail(what + " should fail naming \"" + reason + "\": " + answer);
        }
    }

    static void say(String line) {
        System.out.println(line);
        System.out.flush();
    }

    static void fail(String why) {
        say("FAIL: " + why);
        System.exit(1);
    }
}
