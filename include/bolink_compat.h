/*
 * bolink_compat.h: the vendor's native SDK interface (SDK32.dll / SDK64.dll), as exported by
 * bolink (bolink.dll on Windows, libbolink.so on Linux). Written by hand: the functions are
 * __stdcall on 32-bit Windows, which the generated bolink.h cannot express.
 *
 * A program written for the vendor's UploadUtilNative_* functions builds against this header
 * and links bolink instead of SDK32.dll/SDK64.dll, with no other change.
 *
 * Conventions:
 *  - Every string is UTF-8 JSON, NUL-terminated. Input strings are copied during the call.
 *  - The returned string belongs to the library. It stays valid until the next UploadUtilNative_*
 *    call made on the same thread; copy it to keep it longer. Never free it.
 *  - Every answer is {"state":1|0,"errcode":N,"errmsg":"..."} plus the call's own fields; errcode
 *    is one of the values listed in bolink.h. NULL, non-UTF-8 or malformed input gets state 0
 *    and a message naming the problem.
 *  - The functions may be called from any thread, and from inside the receive callback (except
 *    UploadUtilNative_UnInit, which is refused there and only logged).
 *  - The modern bolink_* API (bolink.h) is exported by the same library and may be mixed in.
 */

#ifndef BOLINK_COMPAT_H
#define BOLINK_COMPAT_H

#if defined(_WIN32) && !defined(_WIN64)
#define BOLINK_STDCALL __stdcall
#else
#define BOLINK_STDCALL
#endif

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Receives one downstream message: a JSON object with a top-level "service_name", valid only
 * during the call. Called on the SDK's dispatcher thread, one message at a time, never on the
 * thread that registered it: do not touch UI controls from it. Reply with
 * UploadUtilNative_UploadData, from inside the callback or later.
 */
typedef void(BOLINK_STDCALL *UploadUtilNative_ReceiveData)(const char *json);

/*
 * Starts the SDK with the vendor's init JSON (bolink's own fields are accepted too) and connects
 * in the background. Answers {"state":1,...} when the configuration was accepted. Called again
 * before UploadUtilNative_UnInit it answers {"state":0,"errmsg":"sdk has been initialized! ..."}.
 */
const char *BOLINK_STDCALL UploadUtilNative_Init(const char *json);

/*
 * Stops the SDK. Messages not yet delivered stay in the outbox for the next init when the outbox
 * is persistent. Init may follow again. Does nothing when the SDK is not running.
 */
void BOLINK_STDCALL UploadUtilNative_UnInit(void);

/* 2.1: a vehicle entered. Committed to the outbox and answered at once. */
const char *BOLINK_STDCALL UploadUtilNative_UploadInParkOrder(const char *json);

/* 2.2: a vehicle left. Committed to the outbox and answered at once. */
const char *BOLINK_STDCALL UploadUtilNative_UploadOutParkOrder(const char *json);

/*
 * 4.1: whether car_number can pay password-free, and whether the link is up (net_status).
 * The input needs "service_name":"pay_status". Answered locally, at once.
 */
const char *BOLINK_STDCALL UploadUtilNative_GetPayStatus(const char *json);

/* Every other upstream message, and every reply to a downstream message. */
const char *BOLINK_STDCALL UploadUtilNative_UploadData(const char *json);

/*
 * Registers the receiver of downstream messages, replacing any earlier one. NULL unregisters;
 * messages then wait for the next receiver. The registration outlives UploadUtilNative_UnInit.
 */
void BOLINK_STDCALL UploadUtilNative_SetReceiveData(UploadUtilNative_ReceiveData callback);

#ifdef __cplusplus
}
#endif

#endif /* BOLINK_COMPAT_H */
