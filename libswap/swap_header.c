/*
 * swap_header.c - the Linux swap area header (swap_header.h).
 *
 * Layout of slot 0, as the kernel's union swap_header and util-linux mkswap have it for
 * version 1 (native byte order, 4 KiB pages):
 *      0  bootbits[1024]  left zero (room for a disk label)
 *   1024  u32 version     1
 *   1028  u32 last_page   the last usable slot (slots are 0 .. last_page)
 *   1032  u32 nr_badpages
 *   1036  u8  uuid[16]    a random (version 4) UUID
 *   1052  u8  label[16]   volume name, NUL padded
 *   1068  u32 padding[117]
 *   1536  u32 badpages[]  slot numbers never to use, at most SWAP_MAX_BADPAGES
 *   4086  "SWAPSPACE2"    the magic, in the last 10 bytes of the page
 * Slot N's page lies raw at byte N * 4096, where the kernel would put it.
 *
 * This file only builds and reads header bytes: it does no I/O.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "swap_header.h"

#define HDR_VERSION	1024
#define HDR_LAST_PAGE	1028
#define HDR_NR_BADPAGES 1032
#define HDR_UUID	1036
#define HDR_LABEL	1052
#define HDR_BADPAGES	1536
#define HDR_MAGIC	(SWAP_PAGE_SIZE - 10)
#define SWAP_MAGIC	"SWAPSPACE2"

static inline uint32_t get_u32(const uint8_t *hdr, size_t at)
{
	uint32_t v;

	memcpy(&v, hdr + at, sizeof(v));
	return v;
}

static inline void put_u32(uint8_t *hdr, size_t at, uint32_t v)
{
	memcpy(hdr + at, &v, sizeof(v));
}

int swi_header_format(void *page, uint64_t nr_pages, const char *label, struct swap_header *h)
{
	uint8_t *hdr = page;

	if (nr_pages < SWAP_MIN_FILE_PAGES || nr_pages > SWAP_MAX_PAGES)
		return -EINVAL;
	if (label && strlen(label) > 16)
		return -EINVAL;
	if (h->nr_bad > SWAP_MAX_BADPAGES || (h->nr_bad && !h->bad))
		return -EINVAL;
	for (uint32_t i = 0; i < h->nr_bad; i++) {
		if (h->bad[i] == 0 || h->bad[i] >= nr_pages)
			return -EINVAL;
	}
	if (getrandom(h->uuid, sizeof(h->uuid), 0) != sizeof(h->uuid))
		return -EIO;
	h->uuid[6] = (h->uuid[6] & 0x0f) | 0x40; /* version 4: random */
	h->uuid[8] = (h->uuid[8] & 0x3f) | 0x80; /* RFC 4122 variant */
	h->last_page = (uint32_t)(nr_pages - 1);
	memset(h->label, 0, sizeof(h->label));
	if (label)
		memcpy(h->label, label, strlen(label));

	memset(hdr, 0, SWAP_PAGE_SIZE);
	put_u32(hdr, HDR_VERSION, 1);
	put_u32(hdr, HDR_LAST_PAGE, h->last_page);
	put_u32(hdr, HDR_NR_BADPAGES, h->nr_bad);
	memcpy(hdr + HDR_UUID, h->uuid, sizeof(h->uuid));
	memcpy(hdr + HDR_LABEL, h->label, 16);
	for (uint32_t i = 0; i < h->nr_bad; i++)
		put_u32(hdr, HDR_BADPAGES + 4 * i, h->bad[i]);
	memcpy(hdr + HDR_MAGIC, SWAP_MAGIC, 10);
	return 0;
}

int swi_header_parse(const void *page, struct swap_header *h)
{
	const uint8_t *hdr = page;

	memset(h, 0, sizeof(*h));
	if (memcmp(hdr + HDR_MAGIC, SWAP_MAGIC, 10) || get_u32(hdr, HDR_VERSION) != 1)
		return -EINVAL; /* no header, the old v0 format, or the other byte order */
	h->last_page = get_u32(hdr, HDR_LAST_PAGE);
	h->nr_bad = get_u32(hdr, HDR_NR_BADPAGES);
	if (h->last_page < 1 || h->nr_bad > SWAP_MAX_BADPAGES)
		return -EINVAL;
	h->bad = calloc(h->nr_bad ? h->nr_bad : 1, sizeof(*h->bad));
	if (!h->bad)
		return -ENOMEM;
	for (uint32_t i = 0; i < h->nr_bad; i++) {
		uint32_t b = get_u32(hdr, HDR_BADPAGES + 4 * i);

		if (b == 0 || b > h->last_page) {
			free(h->bad);
			h->bad = NULL;
			return -EINVAL;
		}
		h->bad[i] = b;
	}
	memcpy(h->uuid, hdr + HDR_UUID, sizeof(h->uuid));
	memcpy(h->label, hdr + HDR_LABEL, 16);
	h->label[16] = 0;
	return 0;
}
