/*
 * Vehicle images from C, as billing software sends them: an entry, the entry image, the exit,
 * the exit image, each image read from a file and Base64-encoded here.
 *
 * Usage: carpic INIT_JSON ORDER_ID ENTRY.jpg EXIT.jpg
 * Exit status 0 when the cloud accepted both images; each answer is printed on its own line.
 */
#define _POSIX_C_SOURCE 200809L

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bolink.h"

static void pause_ms(long ms) {
    struct timespec t = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&t, NULL);
}

/* The whole file, or NULL. The caller frees it. */
static unsigned char *read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        return NULL;
    }
    unsigned char *bytes = NULL;
    size_t size = 0;
    unsigned char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
        unsigned char *grown = realloc(bytes, size + n);
        if (!grown) {
            free(bytes);
            fclose(f);
            return NULL;
        }
        bytes = grown;
        memcpy(bytes + size, chunk, n);
        size += n;
    }
    fclose(f);
    *len = size;
    return bytes;
}

/* Standard Base64 with `=` padding, NUL-terminated. The caller frees it. */
static char *base64(const unsigned char *bytes, size_t len) {
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char *out = malloc((len + 2) / 3 * 4 + 1);
    if (!out) {
        return NULL;
    }
    size_t o = 0;
    for (size_t i = 0; i < len; i += 3) {
        unsigned long group = (unsigned long)bytes[i] << 16;
        if (i + 1 < len) {
            group |= (unsigned long)bytes[i + 1] << 8;
        }
        if (i + 2 < len) {
            group |= bytes[i + 2];
        }
        out[o++] = alphabet[(group >> 18) & 63];
        out[o++] = alphabet[(group >> 12) & 63];
        out[o++] = i + 1 < len ? alphabet[(group >> 6) & 63] : '=';
        out[o++] = i + 2 < len ? alphabet[group & 63] : '=';
    }
    out[o] = '\0';
    return out;
}

/* Polls bolink_status until it contains `needle`; 1 when it did within `seconds`. */
static int wait_status(const char *needle, int seconds) {
    for (int i = 0; i < seconds * 20; i++) {
        char *status = bolink_status();
        int found = status && strstr(status, needle) != NULL;
        bolink_free_string(status);
        if (found) {
            return 1;
        }
        pause_ms(50);
    }
    fprintf(stderr, "timed out waiting for %s in the status\n", needle);
    return 0;
}

/* Prints an answer, frees it, and says whether it has state 1. */
static int accepted(const char *what, char *answer) {
    printf("%s: %s\n", what, answer ? answer : "(null)");
    int ok = answer && strstr(answer, "\"state\":1") != NULL;
    bolink_free_string(answer);
    return ok;
}

/* Uploads the picture in `path` as the `kind` ("in" or "out") image of `order_id`. */
static int upload_image(const char *order_id, const char *kind, const char *path) {
    size_t len = 0;
    unsigned char *picture = read_file(path, &len);
    if (!picture) {
        fprintf(stderr, "cannot read %s\n", path);
        return 0;
    }
    if (len > BOLINK_MAX_IMAGE_BYTES) {
        fprintf(stderr, "%s is %zu bytes; the cloud takes at most %d\n", path, len,
                BOLINK_MAX_IMAGE_BYTES);
        free(picture);
        return 0;
    }
    char *content = base64(picture, len);
    free(picture);
    if (!content) {
        return 0;
    }
    size_t size = strlen(content) + 512;
    char *json = malloc(size);
    if (!json) {
        free(content);
        return 0;
    }
    snprintf(json, size,
             "{\"service_name\":\"upload_carpic\",\"data_target\":\"cloud\","
             "\"picture_source\":\"order\",\"order_id\":\"%s\",\"park_order_type\":\"%s\","
             "\"create_time\":%ld,\"car_number\":\"京A54321\",\"pic_type\":\"jpg\","
             "\"upload_type\":\"http\",\"content\":\"%s\"}",
             order_id, kind, (long)time(NULL), content);
    free(content);
    char *answer = bolink_upload_data(json);
    free(json);
    return accepted(kind[0] == 'i' ? "entry image" : "exit image", answer);
}

int main(int argc, char **argv) {
    if (argc != 5) {
        fprintf(stderr, "usage: carpic INIT_JSON ORDER_ID ENTRY.jpg EXIT.jpg\n");
        return 2;
    }
    const char *order_id = argv[2];
    if (!accepted("init", bolink_init(argv[1]))) {
        return 1;
    }
    int ok = wait_status("\"logged_in\":true", 10);

    char order[512];
    snprintf(order, sizeof order,
             "{\"car_number\":\"京A54321\",\"in_time\":1700000000,\"car_type\":\"小车\","
             "\"c_type\":\"通道扫牌\",\"uid\":\"100\",\"order_id\":\"%s\",\"empty_plot\":20,"
             "\"in_channel_id\":\"A1\"}",
             order_id);
    ok = ok && accepted("entry", bolink_upload_in_park_order(order));
    /* The cloud finds an image's order only once the entry has been delivered. */
    ok = ok && wait_status("\"pending\":0", 10);
    ok = ok && upload_image(order_id, "in", argv[3]);

    snprintf(order, sizeof order,
             "{\"car_number\":\"京A54321\",\"in_time\":1700000000,\"out_time\":1700003600,"
             "\"uid\":\"100\",\"pay_type\":\"cash\",\"empty_plot\":21,\"total\":\"5.00\","
             "\"order_id\":\"%s\",\"car_type\":\"小车\",\"c_type\":\"通道扫牌\","
             "\"out_uid\":\"100\",\"amount_receivable\":\"5.00\"}",
             order_id);
    ok = ok && accepted("exit", bolink_upload_out_park_order(order));
    ok = ok && wait_status("\"pending\":0", 10);
    ok = ok && upload_image(order_id, "out", argv[4]);

    accepted("uninit", bolink_uninit());
    return ok ? 0 : 1;
}
