/* A billing host that streams exits into a durable outbox, for the crash test.
 *
 * Usage:
 *   exit_stream stream <cloud_port> <data_dir> <count>
 *       init, then upload <count> cash exits E0000, E0001, ... one every 2 ms; prints each
 *       order_id the SDK accepted, one a line, flushed at once, so whoever reads stdout knows
 *       exactly what was handed over. Meant to be killed part way.
 *   exit_stream drain <cloud_port> <data_dir>
 *       init on the same data_dir, prints "pending N" (what the last run left), waits until the
 *       outbox is empty, prints "drained", uninit. Exits 1 when it is not empty within 60 s.
 *   exit_stream init <cloud_port> <data_dir>
 *       init, prints the status on one line, uninit.
 * Any mode prints an init answer that carries a warning to stderr ("init warning: ..."), and
 * exits 2 with the answer on stderr ("init refused: ...") when init is refused. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bolink.h"

static void sleep_ms(long ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* An answer is a success when its errcode is 0 (and not 0-something). */
static int accepted(const char *answer) {
    const char *code = answer ? strstr(answer, "\"errcode\":0") : NULL;
    return code != NULL && (code[11] == ',' || code[11] == '}');
}

/* The outbox's pending count from a status answer, -1 when absent. */
static long pending_of(const char *status) {
    const char *at = status ? strstr(status, "\"pending\":") : NULL;
    return at ? strtol(at + strlen("\"pending\":"), NULL, 10) : -1;
}

static int start(const char *port, const char *data_dir) {
    char config[2048];
    snprintf(config, sizeof config,
             "{\"union_id\":\"200208\",\"ukey\":\"8403A41ED5EF20BC\",\"park_id\":\"21835\","
             "\"cloud_addr\":\"127.0.0.1\",\"cport\":%s,\"mac\":\"a1b2c3d4e5f6\","
             "\"local_id\":\"gate9\",\"data_dir\":\"%s\",\"heartbeat_secs\":1,"
             "\"reconnect_max_secs\":1,\"rate_limit_per_10s\":0,\"orders_per_second\":0}",
             port, data_dir);
    char *answer = bolink_init(config);
    int ok = accepted(answer);
    if (!ok) {
        fprintf(stderr, "init refused: %s\n", answer ? answer : "(NULL)");
    } else if (answer && strstr(answer, "\"warning\"")) {
        fprintf(stderr, "init warning: %s\n", answer);
    }
    bolink_free_string(answer);
    return ok;
}

static int stream(long count) {
    for (long i = 0; i < count; i++) {
        char order_id[32];
        char exit_order[512];
        snprintf(order_id, sizeof order_id, "E%04ld", i);
        snprintf(exit_order, sizeof exit_order,
                 "{\"car_number\":\"京A54321\",\"in_time\":1700000000,\"out_time\":1700003600,"
                 "\"uid\":\"100\",\"pay_type\":\"cash\",\"empty_plot\":21,\"total\":\"5.00\","
                 "\"order_id\":\"%s\",\"car_type\":\"小车\",\"c_type\":\"通道扫牌\","
                 "\"out_uid\":\"100\",\"amount_receivable\":\"5.00\"}",
                 order_id);
        char *answer = bolink_upload_out_park_order(exit_order);
        if (accepted(answer)) {
            printf("%s\n", order_id);
            fflush(stdout);
        } else {
            fprintf(stderr, "not accepted %s: %s\n", order_id, answer ? answer : "(NULL)");
        }
        bolink_free_string(answer);
        sleep_ms(2);
    }
    printf("done\n");
    fflush(stdout);
    bolink_free_string(bolink_uninit());
    return 0;
}

static int drain(void) {
    char *status = bolink_status();
    printf("pending %ld\n", pending_of(status));
    fflush(stdout);
    bolink_free_string(status);

    for (int waited = 0; waited < 60000; waited += 50) {
        status = bolink_status();
        long pending = pending_of(status);
        bolink_free_string(status);
        if (pending == 0) {
            printf("drained\n");
            fflush(stdout);
            bolink_free_string(bolink_uninit());
            return 0;
        }
        sleep_ms(50);
    }
    fprintf(stderr, "the outbox did not drain within 60 s\n");
    bolink_free_string(bolink_uninit());
    return 1;
}

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: exit_stream stream|drain|init <cloud_port> <data_dir> [count]\n");
        return 64;
    }
    const char *mode = argv[1];
    if (!start(argv[2], argv[3])) {
        return 2;
    }
    if (strcmp(mode, "stream") == 0 && argc == 5) {
        return stream(strtol(argv[4], NULL, 10));
    }
    if (strcmp(mode, "drain") == 0) {
        return drain();
    }
    if (strcmp(mode, "init") == 0) {
        char *status = bolink_status();
        printf("%s\n", status ? status : "(NULL)");
        bolink_free_string(status);
        bolink_free_string(bolink_uninit());
        return 0;
    }
    fprintf(stderr, "unknown mode %s\n", mode);
    bolink_free_string(bolink_uninit());
    return 64;
}
