/*
 * A billing program written for the vendor's native SDK (UploadUtilNative_* in SDK32.dll),
 * run against bolink. It uses nothing but the vendor's seven functions.
 *
 * Flow: bad input is refused with clear errors, init (twice: the second is refused), register
 * the receiver, upload an entry, answer the cloud's query_price from the receiver, upload the
 * exit, wait until the SDK has sent everything, uninit.
 *
 * Input: BOLINK_INIT_JSON (the init JSON), BOLINK_ORDER_ID (the order to use).
 * Prints what it does; exits 1 on the first failure.
 */

#define _POSIX_C_SOURCE 200809L

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bolink_compat.h"
#include "json_field.h"

static atomic_int price_replies;
static atomic_int callback_failures;

static void fail(const char *what, const char *answer)
{
    printf("FAIL: %s: %s\n", what, answer ? answer : "(NULL)");
    fflush(stdout);
    exit(1);
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static int has(const char *answer, const char *text)
{
    return answer != NULL && strstr(answer, text) != NULL;
}

/* An answer with state 1, or the program stops. */
static void expect_ok(const char *what, const char *answer)
{
    printf("%s -> %s\n", what, answer ? answer : "(NULL)");
    if (!has(answer, "\"state\":1"))
        fail(what, answer);
}

/* An answer with state 0 and an errmsg containing `reason`, or the program stops. */
static void expect_error(const char *what, const char *answer, const char *reason)
{
    printf("%s -> %s\n", what, answer ? answer : "(NULL)");
    if (!has(answer, "\"state\":0") || !has(answer, reason))
        fail(what, answer);
}

static void BOLINK_STDCALL on_receive(const char *json)
{
    printf("receive: %s\n", json);
    fflush(stdout);

    if (has(json, "\"service_name\":\"test_throw\"")) {
        /* Not allowed from the receiver: it must be refused, not hang or stop the SDK. */
        UploadUtilNative_UnInit();
        return;
    }
    if (!has(json, "\"service_name\":\"query_price\""))
        return;

    char query_order_no[64] = "", order_id[64] = "";
    if (!json_string_field(json, "query_order_no", query_order_no, sizeof query_order_no) ||
        !json_string_field(json, "order_id", order_id, sizeof order_id)) {
        atomic_fetch_add(&callback_failures, 1);
        return;
    }
    char reply[512];
    snprintf(reply, sizeof reply,
             "{\"service_name\":\"query_price\",\"data_target\":\"bolink\",\"state\":1,"
             "\"errmsg\":\"\",\"query_order_no\":\"%s\",\"order_id\":\"%s\",\"price\":\"5.00\","
             "\"total\":\"5.00\",\"duration\":60,\"free_out_time\":15,\"query_time\":1700003600,"
             "\"derate_money\":\"0.00\",\"derate_duration\":0}",
             query_order_no, order_id);
    const char *answer = UploadUtilNative_UploadData(reply);
    printf("reply query_price %s -> %s\n", query_order_no, answer);
    if (has(answer, "\"state\":1"))
        atomic_fetch_add(&price_replies, 1);
    else
        atomic_fetch_add(&callback_failures, 1);
}

/* Calls the SDK from another thread while the main thread holds an answer. */
static void *other_thread(void *arg)
{
    (void)arg;
    for (int i = 0; i < 50; i++)
        UploadUtilNative_GetPayStatus("{\"service_name\":\"pay_status\",\"car_number\":\"X\"}");
    return NULL;
}

static void bad_input(void)
{
    expect_error("UploadData before init",
                 UploadUtilNative_UploadData("{\"service_name\":\"park_log\"}"), "init");
    expect_error("Init(NULL)", UploadUtilNative_Init(NULL), "NULL");
    expect_error("Init(not UTF-8)", UploadUtilNative_Init("{\"park_id\":\"\xff\xfe\"}"), "UTF-8");
    expect_error("Init(malformed)", UploadUtilNative_Init("{\"union_id\":"), "JSON");
    expect_error("Init(array)", UploadUtilNative_Init("[1,2,3]"), "object");
    expect_error("Init(missing ukey)",
                 UploadUtilNative_Init("{\"union_id\":\"200208\",\"park_id\":\"21835\"}"),
                 "ukey");
    UploadUtilNative_UnInit(); /* not running: nothing to do, must not crash */
}

int main(void)
{
    const char *init = getenv("BOLINK_INIT_JSON");
    const char *order_id = getenv("BOLINK_ORDER_ID");
    if (init == NULL || order_id == NULL)
        fail("environment", "BOLINK_INIT_JSON and BOLINK_ORDER_ID must be set");
    setvbuf(stdout, NULL, _IOLBF, 0);

    bad_input();

    expect_ok("Init", UploadUtilNative_Init(init));
    expect_error("Init again", UploadUtilNative_Init(init), "sdk has been initialized!");
    UploadUtilNative_SetReceiveData(on_receive);

    char entry[512];
    snprintf(entry, sizeof entry,
             "{\"car_number\":\"京A54321\",\"in_time\":1700000000,\"car_type\":\"小车\","
             "\"c_type\":\"通道扫牌\",\"uid\":\"100\",\"order_id\":\"%s\",\"empty_plot\":20,"
             "\"in_channel_id\":\"A1\"}",
             order_id);
    const char *entry_answer = UploadUtilNative_UploadInParkOrder(entry);
    expect_ok("UploadInParkOrder", entry_answer);

    /* The answer stays valid while other threads call the SDK. */
    char kept[512];
    snprintf(kept, sizeof kept, "%s", entry_answer);
    pthread_t thread;
    if (pthread_create(&thread, NULL, other_thread, NULL) != 0)
        fail("pthread_create", NULL);
    pthread_join(thread, NULL);
    if (strcmp(kept, entry_answer) != 0)
        fail("answer changed by another thread's call", entry_answer);

    expect_error("UploadInParkOrder(NULL)", UploadUtilNative_UploadInParkOrder(NULL), "NULL");
    expect_error("UploadInParkOrder(not UTF-8)",
                 UploadUtilNative_UploadInParkOrder("{\"car_number\":\"\xbe\xa9\"}"), "UTF-8");
    expect_error("UploadOutParkOrder(malformed)",
                 UploadUtilNative_UploadOutParkOrder("{\"order_id\":"), "JSON");
    expect_error("UploadInParkOrder(missing fields)",
                 UploadUtilNative_UploadInParkOrder("{\"car_number\":\"京A1\"}"), "missing");
    expect_error("GetPayStatus(NULL)", UploadUtilNative_GetPayStatus(NULL), "NULL");
    expect_error("UploadData(NULL)", UploadUtilNative_UploadData(NULL), "NULL");
    expect_error("UploadData(no service_name)", UploadUtilNative_UploadData("{\"a\":1}"),
                 "service_name");

    printf("waiting for the cloud's query_price\n");
    for (int i = 0; i < 3000 && atomic_load(&price_replies) == 0; i++)
        sleep_ms(10);
    if (atomic_load(&price_replies) == 0)
        fail("no query_price was answered within 30 s", NULL);
    if (atomic_load(&callback_failures) != 0)
        fail("the receiver could not answer a message", NULL);

    char exit_order[512];
    snprintf(exit_order, sizeof exit_order,
             "{\"car_number\":\"京A54321\",\"in_time\":1700000000,\"out_time\":1700003600,"
             "\"uid\":\"100\",\"pay_type\":\"cash\",\"empty_plot\":21,\"total\":\"5.00\","
             "\"order_id\":\"%s\",\"car_type\":\"小车\",\"c_type\":\"通道扫牌\","
             "\"out_uid\":\"100\",\"amount_receivable\":\"5.00\"}",
             order_id);
    expect_ok("UploadOutParkOrder", UploadUtilNative_UploadOutParkOrder(exit_order));

    const char *status = NULL;
    for (int i = 0; i < 2000; i++) {
        status = UploadUtilNative_GetPayStatus(
            "{\"service_name\":\"pay_status\",\"car_number\":\"京A54321\"}");
        if (has(status, "\"pending\":0,"))
            break;
        sleep_ms(10);
    }
    expect_ok("GetPayStatus", status);
    if (!has(status, "\"pending\":0,") || !has(status, "\"net_status\":1"))
        fail("the outbox did not empty within 20 s", status);

    UploadUtilNative_SetReceiveData(NULL);
    UploadUtilNative_UnInit();
    expect_error("UploadData after UnInit",
                 UploadUtilNative_UploadData("{\"service_name\":\"park_log\"}"), "init");
    UploadUtilNative_UnInit();
    printf("compat: all steps passed\n");
    return 0;
}
