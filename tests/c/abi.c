/* A C host written only from include/bolink.h: the whole flow against bolink-sim, the
 * receive callback's thread, and every export given bad input.
 * Usage: abi <cloud_port> <http_port>. Exits 0 and prints "ALL OK" when every check held. */
#define _DEFAULT_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bolink.h"
#include "json_field.h"

static int failures;

#define CHECK(cond, ...)                                                                       \
    do {                                                                                       \
        if (!(cond)) {                                                                         \
            failures++;                                                                        \
            fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);                               \
            fprintf(stderr, __VA_ARGS__);                                                      \
            fputc('\n', stderr);                                                               \
        }                                                                                      \
    } while (0)

/* Checks that an answer carries the expected errcode, then frees it. */
static void expect_code(char *answer, int code, const char *what) {
    char needle[32];
    snprintf(needle, sizeof needle, "\"errcode\":%d", code);
    CHECK(answer != NULL, "%s: NULL answer", what);
    if (answer) {
        CHECK(strstr(answer, needle) != NULL, "%s: expected errcode %d, got %s", what, code, answer);
        CHECK(code == 0 || strstr(answer, "\"state\":0") != NULL, "%s: state must be 0: %s", what,
              answer);
        CHECK(code == 0 || strstr(answer, "\"errmsg\":\"\"") == NULL, "%s: empty errmsg", what);
    }
    bolink_free_string(answer);
}

struct host {
    pthread_t main_thread;
    pthread_mutex_t lock;
    int prices_answered;
    int wrong_thread;
    int calls;
    int freed;
};

static void on_message(void *user_data, const char *json) {
    struct host *host = user_data;
    pthread_mutex_lock(&host->lock);
    host->calls++;
    if (pthread_equal(pthread_self(), host->main_thread)) host->wrong_thread++;
    pthread_mutex_unlock(&host->lock);

    if (strstr(json, "\"service_name\":\"query_price\"")) {
        char order_no[64] = {0};
        json_string_field(json, "query_order_no", order_no, sizeof order_no);
        char reply[512];
        snprintf(reply, sizeof reply,
                 "{\"service_name\":\"query_price\",\"data_target\":\"bolink\",\"state\":1,"
                 "\"errmsg\":\"\",\"order_id\":\"c_ord1\",\"query_order_no\":\"%s\","
                 "\"price\":\"6.00\",\"total\":\"6.00\",\"duration\":60}",
                 order_no);
        /* Replying from inside the callback is allowed. */
        char *answer = bolink_upload_data(reply);
        CHECK(answer && strstr(answer, "\"state\":1"), "reply from callback: %s", answer);
        bolink_free_string(answer);
        pthread_mutex_lock(&host->lock);
        host->prices_answered++;
        pthread_mutex_unlock(&host->lock);
    }
}

static void free_host(void *user_data) {
    struct host *host = user_data;
    host->freed++;
}

static int wait_for(struct host *host, int *field, int want, int seconds) {
    for (int i = 0; i < seconds * 100; i++) {
        pthread_mutex_lock(&host->lock);
        int now = *field;
        pthread_mutex_unlock(&host->lock);
        if (now >= want) return 1;
        usleep(10000);
    }
    return 0;
}

static int outbox_empty(int seconds) {
    for (int i = 0; i < seconds * 100; i++) {
        char *status = bolink_status();
        int empty = status && strstr(status, "\"pending\":0") != NULL;
        bolink_free_string(status);
        if (empty) return 1;
        usleep(10000);
    }
    return 0;
}

/* Every string-taking export, given NULL, invalid UTF-8 and malformed JSON. */
static void bad_input_everywhere(void) {
    const char invalid_utf8[] = {'{', '"', 'a', '"', ':', '"', (char)0xBE, (char)0xA9, '"', '}', 0};
    char *(*calls[])(const char *) = {bolink_init, bolink_upload_in_park_order,
                                      bolink_upload_out_park_order, bolink_get_pay_status,
                                      bolink_upload_data};
    const char *names[] = {"init", "in_park", "out_park", "pay_status", "upload_data"};
    for (size_t i = 0; i < sizeof calls / sizeof calls[0]; i++) {
        char what[64];
        snprintf(what, sizeof what, "%s(NULL)", names[i]);
        expect_code(calls[i](NULL), BOLINK_ERRCODE_NULL_ARGUMENT, what);
        snprintf(what, sizeof what, "%s(GBK)", names[i]);
        expect_code(calls[i](invalid_utf8), BOLINK_ERRCODE_INVALID_UTF8, what);
        snprintf(what, sizeof what, "%s(\"{\")", names[i]);
        expect_code(calls[i]("{\"car_number\":"), BOLINK_ERRCODE_MALFORMED_JSON, what);
        snprintf(what, sizeof what, "%s([])", names[i]);
        expect_code(calls[i]("[]"), BOLINK_ERRCODE_MALFORMED_JSON, what);
    }
    expect_code(bolink_upload_data_sync(NULL, 10), BOLINK_ERRCODE_NULL_ARGUMENT, "sync(NULL)");
    expect_code(bolink_upload_data_sync(invalid_utf8, 10), BOLINK_ERRCODE_INVALID_UTF8, "sync(GBK)");
    expect_code(bolink_upload_data_sync("nope", 10), BOLINK_ERRCODE_MALFORMED_JSON, "sync(nope)");

    /* 100 MB of text: refused by size before anything parses it. */
    size_t big = 100u * 1024 * 1024;
    char *huge = malloc(big + 1);
    if (huge) {
        memset(huge, 'a', big);
        huge[big] = 0;
        expect_code(bolink_upload_data(huge), BOLINK_ERRCODE_INPUT_TOO_LARGE, "100 MB");
        free(huge);
    }
    bolink_free_string(NULL);
}

static char *init_json(int cloud_port, int http_port) {
    static char text[1024];
    snprintf(text, sizeof text,
             "{\"union_id\":\"200208\",\"ukey\":\"8403A41ED5EF20BC\",\"park_id\":\"21835\","
             "\"cloud_addr\":\"127.0.0.1\",\"cport\":%d,\"local_id\":\"c_gate\","
             "\"mac\":\"a1b2c3d4e5f6\",\"data_dir\":\"\",\"heartbeat_secs\":1,"
             "\"reconnect_max_secs\":1,\"rate_limit_per_10s\":0,\"orders_per_second\":0,"
             "\"image_url\":\"http://127.0.0.1:%d/upload/carimgupload\"}",
             cloud_port, http_port);
    return text;
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: abi <cloud_port> <http_port>\n");
        return 2;
    }
    int cloud_port = atoi(argv[1]), http_port = atoi(argv[2]);
    setvbuf(stdout, NULL, _IONBF, 0);

    CHECK(bolink_abi_version() == BOLINK_ABI_VERSION, "abi version %u", bolink_abi_version());
    CHECK(strncmp(bolink_version(), "bolink ", 7) == 0, "version %s", bolink_version());
    printf("version: %s\n", bolink_version());

    /* Before init: calls answer NOT_INITIALIZED, bad input its own error. */
    expect_code(bolink_upload_data("{\"service_name\":\"x\",\"data_target\":\"cloud\"}"),
                BOLINK_ERRCODE_NOT_INITIALIZED, "upload before init");
    expect_code(bolink_uninit(), BOLINK_ERRCODE_NOT_INITIALIZED, "uninit before init");
    expect_code(bolink_status(), BOLINK_ERRCODE_NOT_INITIALIZED, "status before init");
    expect_code(bolink_init("{\"union_id\":\"200208\",\"park_id\":\"21835\"}"),
                BOLINK_ERRCODE_MISSING_FIELD, "init without ukey");
    bad_input_everywhere();
    CHECK(bolink_poll_message(0) == NULL, "no message before init");

    struct host host = {.main_thread = pthread_self()};
    pthread_mutex_init(&host.lock, NULL);
    CHECK(bolink_set_receive_callback(on_message, &host, free_host) == BOLINK_ERRCODE_OK,
          "set callback");

    const char *init = init_json(cloud_port, http_port);
    expect_code(bolink_init(init), BOLINK_ERRCODE_OK, "init");
    expect_code(bolink_init(init), BOLINK_ERRCODE_ALREADY_INITIALIZED, "init twice");
    bad_input_everywhere();

    expect_code(bolink_upload_in_park_order(
                    "{\"car_number\":\"京A54321\",\"in_time\":1700000000,\"car_type\":\"小车\","
                    "\"c_type\":\"通道扫牌\",\"uid\":\"100\",\"order_id\":\"c_ord1\","
                    "\"empty_plot\":20,\"in_channel_id\":\"A1\"}"),
                BOLINK_ERRCODE_OK, "entry");
    printf("entry uploaded\n");

    CHECK(wait_for(&host, &host.prices_answered, 1, 20), "no query_price reached the callback");
    printf("query_price answered from the callback\n");

    expect_code(bolink_upload_out_park_order(
                    "{\"car_number\":\"京A54321\",\"in_time\":1700000000,\"out_time\":1700003600,"
                    "\"uid\":\"100\",\"pay_type\":\"cash\",\"empty_plot\":21,\"total\":\"6.00\","
                    "\"order_id\":\"c_ord1\"}"),
                BOLINK_ERRCODE_OK, "exit");
    char *status = bolink_get_pay_status("{\"service_name\":\"pay_status\",\"car_number\":\"京A54321\"}");
    CHECK(status && strstr(status, "\"net_status\":1"), "pay status: %s", status);
    bolink_free_string(status);
    CHECK(outbox_empty(20), "the outbox did not drain");
    printf("exit uploaded and delivered\n");

    expect_code(bolink_uninit(), BOLINK_ERRCODE_OK, "uninit");
    expect_code(bolink_uninit(), BOLINK_ERRCODE_NOT_INITIALIZED, "uninit twice");

    /* Init and uninit again, several times. */
    for (int i = 0; i < 3; i++) {
        expect_code(bolink_init(init), BOLINK_ERRCODE_OK, "re-init");
        expect_code(bolink_uninit(), BOLINK_ERRCODE_OK, "re-uninit");
    }

    CHECK(host.wrong_thread == 0, "%d callbacks ran on the main thread", host.wrong_thread);
    CHECK(host.freed == 0, "user_data freed while registered");
    CHECK(bolink_set_receive_callback(NULL, NULL, NULL) == BOLINK_ERRCODE_OK, "unset callback");
    CHECK(host.freed == 1, "user_data_free ran %d times", host.freed);
    CHECK(bolink_poll_message(50) == NULL, "nothing to poll");
    pthread_mutex_destroy(&host.lock);

    if (failures) {
        fprintf(stderr, "%d check(s) failed\n", failures);
        return 1;
    }
    printf("ALL OK\n");
    return 0;
}
