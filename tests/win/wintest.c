/*
 * The Windows test host: a billing program built with MinGW for x86 or x64 and run under Wine
 * against bolink-sim on loopback, to prove that bolink.dll works on Windows.
 *
 * Usage: wintest.exe CLOUD_PORT HTTP_PORT ORDER_ID DATA_DIR FLOOR
 *   DATA_DIR  the outbox directory, as a Windows path (forward slashes are fine)
 *   FLOOR     text bolink_version() must contain, e.g. "Windows 10"
 *
 * Steps, each printed as one "ok:" line, or "FAIL:" and exit code 1:
 *   1. the Windows version the system reports is printed; bolink_version() names the floor;
 *      the ABI version matches the header
 *   2. init without "mac" (the library reads the adapter itself); wait for the login
 *   3. register the receiver, upload an entry
 *   4. the simulator answers the entry with a query_price; the receiver replies from the callback
 *   5. upload a 150 000-byte image for the order: the answer must say state 1
 *   6. wait until the outbox is empty (the reply has gone out)
 *   7. 1 000 calls of the compat export UploadUtilNative_GetPayStatus (stdcall on x86): every
 *      answer is right and the stack pointer ends where it started
 *   8. uninit, unregister: user_data_free runs exactly once
 */

#include <windows.h>

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bolink.h"
#include "bolink_compat.h"
#include "../c/json_field.h"

#define IMAGE_BYTES 150000
#define COMPAT_CALLS 1000

/* "京A12345", spelled in UTF-8 bytes so the compiler's source charset cannot change it. */
#define CAR_NUMBER "\xe4\xba\xac" "A12345"

/* What the receiver saw; written on the dispatcher thread, read after `price_answered`. */
struct receiver {
    const char *order_id;
    HANDLE price_answered;
    volatile LONG queries;
    volatile LONG frees;
    int reply_ok;
    char reply_answer[512];
};

static void fail(const char *format, ...)
{
    va_list args;
    va_start(args, format);
    printf("FAIL: ");
    vprintf(format, args);
    printf("\n");
    va_end(args);
    exit(1);
}

static void ok(const char *format, ...)
{
    va_list args;
    va_start(args, format);
    printf("ok: ");
    vprintf(format, args);
    printf("\n");
    va_end(args);
}

static int has(const char *text, const char *part)
{
    return text != NULL && strstr(text, part) != NULL;
}

/* Fails unless a bolink_* answer says state 1; frees it. */
static void expect_state_1(const char *what, char *answer)
{
    if (!has(answer, "\"state\":1")) {
        printf("FAIL: %s: %s\n", what, answer ? answer : "(NULL)");
        exit(1);
    }
    ok("%s", what);
    bolink_free_string(answer);
}

/* Polls bolink_status until it contains `part`, for up to `seconds`. */
static void wait_for_status(const char *what, const char *part, int seconds)
{
    char *status = bolink_status();
    for (int waited = 0; !has(status, part) && waited < seconds * 10; waited++) {
        bolink_free_string(status);
        Sleep(100);
        status = bolink_status();
    }
    if (!has(status, part))
        fail("%s: not within %d s; status %s", what, seconds, status ? status : "(NULL)");
    bolink_free_string(status);
    ok("%s", what);
}

static void receive(void *user_data, const char *json)
{
    struct receiver *r = user_data;
    if (!has(json, "\"service_name\":\"query_price\"")) {
        printf("receiver: %s\n", json);
        return;
    }

    char query_order_no[64], order_id[64];
    if (!json_string_field(json, "query_order_no", query_order_no, sizeof query_order_no) ||
        !json_string_field(json, "order_id", order_id, sizeof order_id) ||
        strcmp(order_id, r->order_id) != 0) {
        snprintf(r->reply_answer, sizeof r->reply_answer, "unexpected query_price %s", json);
    } else {
        // The reply goes out from inside the callback, as a billing program answers a price.
        char reply[256];
        snprintf(reply, sizeof reply,
                 "{\"service_name\":\"query_price\",\"data_target\":\"bolink\",\"state\":1,"
                 "\"query_order_no\":\"%s\",\"order_id\":\"%s\",\"price\":\"1.00\"}",
                 query_order_no, order_id);
        char *answer = bolink_upload_data(reply);
        r->reply_ok = has(answer, "\"state\":1");
        snprintf(r->reply_answer, sizeof r->reply_answer, "%s (reply to %s)",
                 answer ? answer : "(NULL)", query_order_no);
        bolink_free_string(answer);
    }
    if (InterlockedIncrement(&r->queries) == 1)
        SetEvent(r->price_answered);
}

static void receiver_free(void *user_data)
{
    struct receiver *r = user_data;
    InterlockedIncrement(&r->frees);
}

static char *base64(const unsigned char *bytes, size_t length)
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char *out = malloc((length + 2) / 3 * 4 + 1);
    if (out == NULL)
        fail("out of memory");
    char *p = out;
    for (size_t i = 0; i < length; i += 3) {
        uint32_t chunk = (uint32_t)bytes[i] << 16;
        if (i + 1 < length)
            chunk |= (uint32_t)bytes[i + 1] << 8;
        if (i + 2 < length)
            chunk |= bytes[i + 2];
        *p++ = alphabet[(chunk >> 18) & 63];
        *p++ = alphabet[(chunk >> 12) & 63];
        *p++ = i + 1 < length ? alphabet[(chunk >> 6) & 63] : '=';
        *p++ = i + 2 < length ? alphabet[chunk & 63] : '=';
    }
    *p = '\0';
    return out;
}

/* A JPEG-looking file of IMAGE_BYTES bytes: the JFIF start, noise, the end marker. */
static char *image_base64(void)
{
    static const unsigned char start[] = {0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10, 'J', 'F', 'I',
                                          'F',  0x00};
    unsigned char *image = malloc(IMAGE_BYTES);
    if (image == NULL)
        fail("out of memory");
    uint32_t seed = 12345;
    for (size_t i = 0; i < IMAGE_BYTES; i++) {
        seed = seed * 1103515245u + 12345u;
        image[i] = (unsigned char)(seed >> 16);
    }
    memcpy(image, start, sizeof start);
    image[IMAGE_BYTES - 2] = 0xFF;
    image[IMAGE_BYTES - 1] = 0xD9;
    char *text = base64(image, IMAGE_BYTES);
    free(image);
    return text;
}

#if defined(__i386__)
/* Read in the function that makes the calls: a frame-pointer epilogue elsewhere would hide a
 * drift that a convention mismatch leaves behind. */
#define READ_STACK_POINTER(sp) __asm__ volatile("movl %%esp, %0" : "=r"(sp) : : "memory")
#else
#define READ_STACK_POINTER(sp) ((sp) = 0)
#endif

/* Step 7. On x86 the caller trusts UploadUtilNative_GetPayStatus to pop its argument
 * (stdcall); were the export cdecl, the stack would sink four bytes a call. */
static __attribute__((noinline)) void compat_calls(const char *order_id)
{
    char query[256];
    snprintf(query, sizeof query,
             "{\"service_name\":\"pay_status\",\"car_number\":\"" CAR_NUMBER
             "\",\"order_id\":\"%s\"}",
             order_id);

    uintptr_t before, after;
    READ_STACK_POINTER(before);
    for (int i = 0; i < COMPAT_CALLS; i++) {
        const char *answer = UploadUtilNative_GetPayStatus(query);
        if (!has(answer, "\"state\":1") || !has(answer, "\"net_status\":1"))
            fail("UploadUtilNative_GetPayStatus call %d: %s", i + 1, answer ? answer : "(NULL)");
    }
    READ_STACK_POINTER(after);
    if (before != after)
        fail("the stack pointer moved by %ld bytes over %d compat calls: calling convention "
             "mismatch",
             (long)(after - before), COMPAT_CALLS);
    ok("%d calls of UploadUtilNative_GetPayStatus, stack pointer unchanged", COMPAT_CALLS);
}

/* Prints the Windows version the system reports (RtlGetVersion, which no compatibility shim
 * rewrites), so the script can tell that Wine was set to the version under test. */
static void report_windows_version(void)
{
    typedef LONG(WINAPI * rtl_get_version_fn)(OSVERSIONINFOW *);
    OSVERSIONINFOW info = {.dwOSVersionInfoSize = sizeof info};
    FARPROC proc = GetProcAddress(GetModuleHandleA("ntdll.dll"), "RtlGetVersion");
    if (proc == NULL || ((rtl_get_version_fn)(void (*)(void))proc)(&info) != 0)
        fail("RtlGetVersion is not available");
    ok("running on Windows %lu.%lu build %lu", info.dwMajorVersion, info.dwMinorVersion,
       info.dwBuildNumber);
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IONBF, 0);
    if (argc != 6)
        fail("usage: wintest.exe CLOUD_PORT HTTP_PORT ORDER_ID DATA_DIR FLOOR");
    const char *cloud_port = argv[1], *http_port = argv[2], *order_id = argv[3];
    const char *data_dir = argv[4], *floor = argv[5];

    /* 1. The version */
    report_windows_version();
    const char *version = bolink_version();
    if (!has(version, floor))
        fail("bolink_version() is \"%s\", which does not name \"%s\"", version, floor);
    if (bolink_abi_version() != BOLINK_ABI_VERSION)
        fail("bolink_abi_version() is %u, the header says %u", bolink_abi_version(),
             BOLINK_ABI_VERSION);
    ok("version %s", version);

    /* 2. Init and login */
    char config[1024];
    snprintf(config, sizeof config,
             "{\"union_id\":\"200208\",\"park_id\":\"21835\",\"ukey\":\"8403A41ED5EF20BC\","
             "\"cloud_addr\":\"127.0.0.1\",\"cport\":%s,\"local_id\":\"wintest\","
             "\"data_dir\":\"%s\",\"image_url\":\"http://127.0.0.1:%s/upload/carimgupload\","
             "\"heartbeat_secs\":2,\"rate_limit_per_10s\":0,\"orders_per_second\":0}",
             cloud_port, data_dir, http_port);
    expect_state_1("init", bolink_init(config));
    wait_for_status("logged in to the cloud", "\"logged_in\":true", 20);
    wait_for_status("the outbox is on disk", "\"persistent\":true", 1);

    /* 3. The entry */
    struct receiver r = {.order_id = order_id};
    r.price_answered = CreateEventA(NULL, TRUE, FALSE, NULL);
    if (bolink_set_receive_callback(receive, &r, receiver_free) != 0)
        fail("bolink_set_receive_callback refused the receiver");
    char entry[512];
    snprintf(entry, sizeof entry,
             "{\"car_number\":\"" CAR_NUMBER "\",\"in_time\":%lld,\"car_type\":\"small\","
             "\"c_type\":\"plate\",\"uid\":\"100\",\"order_id\":\"%s\",\"empty_plot\":20,"
             "\"in_channel_id\":\"A1\"}",
             (long long)time(NULL), order_id);
    expect_state_1("entry uploaded", bolink_upload_in_park_order(entry));

    /* 4. The downstream message and its reply */
    if (WaitForSingleObject(r.price_answered, 20000) != WAIT_OBJECT_0)
        fail("no query_price reached the receiver within 20 s");
    if (!r.reply_ok)
        fail("the reply from the callback: %s", r.reply_answer);
    ok("query_price answered from the callback: %s", r.reply_answer);

    /* 5. The image */
    char *content = image_base64();
    size_t size = strlen(content) + 512;
    char *upload = malloc(size);
    if (upload == NULL)
        fail("out of memory");
    snprintf(upload, size,
             "{\"service_name\":\"upload_carpic\",\"data_target\":\"cloud\","
             "\"picture_source\":\"order\",\"order_id\":\"%s\",\"park_order_type\":\"in\","
             "\"create_time\":%lld,\"upload_type\":\"http\",\"content\":\"%s\"}",
             order_id, (long long)time(NULL), content);
    free(content);
    char *answer = bolink_upload_data(upload);
    free(upload);
    if (!has(answer, "\"state\":1"))
        fail("image of %d bytes: %s", IMAGE_BYTES, answer ? answer : "(NULL)");
    ok("image of %d bytes: %s", IMAGE_BYTES, answer);
    bolink_free_string(answer);

    /* 6. Everything delivered */
    wait_for_status("the outbox is empty", "\"pending\":0", 20);

    /* 7. The compat export */
    compat_calls(order_id);

    /* 8. Uninit */
    expect_state_1("uninit", bolink_uninit());
    bolink_set_receive_callback(NULL, NULL, NULL);
    if (r.frees != 1)
        fail("user_data_free ran %ld times, not once", (long)r.frees);
    ok("user_data_free ran once");
    CloseHandle(r.price_answered);

    printf("PASS\n");
    return 0;
}
