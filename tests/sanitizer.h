/*
 * sanitizer.h - ZT_ASAN / ZT_TSAN: 1 when built with AddressSanitizer / ThreadSanitizer, for
 * the libzs and the libswap suites alike.
 */
#ifndef ZT_SANITIZER_H
#define ZT_SANITIZER_H

/*
 * Built with AddressSanitizer or ThreadSanitizer (gcc defines __SANITIZE_ADDRESS__ and
 * __SANITIZE_THREAD__, clang has the features): their shadow memory and ASan's quarantine
 * change the process's address space and RSS, which the few tests measuring those cannot
 * allow for.
 */
#if defined(__SANITIZE_ADDRESS__)
#define ZT_ASAN 1
#endif
#if defined(__SANITIZE_THREAD__)
#define ZT_TSAN 1
#endif
#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define ZT_ASAN 1
#endif
#if __has_feature(thread_sanitizer)
#define ZT_TSAN 1
#endif
#endif
#ifndef ZT_ASAN
#define ZT_ASAN 0
#endif
#ifndef ZT_TSAN
#define ZT_TSAN 0
#endif

#endif
