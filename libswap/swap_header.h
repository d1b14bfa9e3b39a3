/*
 * swap_header.h - the on-disk header of a Linux swap area (swap_header.c): what mkswap writes
 * in the first page and swapon reads, the SWAPSPACE2 format, version 1.
 */
#ifndef SWAP_HEADER_H
#define SWAP_HEADER_H

#include <stdint.h>

#include "zs/swap.h"

/* A header's contents. */
struct swap_header {
	uint32_t last_page; /* the last usable slot: slots are 0 .. last_page */
	uint32_t nr_bad;    /* entries of bad[] */
	uint32_t *bad;	    /* slots never to use (parse: malloc'ed, the caller frees it) */
	uint8_t uuid[16];
	char label[17]; /* NUL-terminated */
};

/*
 * Build the header page (SWAP_PAGE_SIZE bytes at @page) of an area of @nr_pages slots with a
 * fresh random (version 4) UUID, @label (NULL: none) and the bad slots of @h (h->bad, h->nr_bad;
 * h->last_page is set here), returning the UUID and label in @h.
 * @return 0, -EINVAL (nr_pages below SWAP_MIN_FILE_PAGES or above SWAP_MAX_PAGES, a label longer
 *         than 16 bytes, more than SWAP_MAX_BADPAGES bad slots, a bad slot 0 or past the area),
 *         or -EIO (no random bytes for the UUID).
 */
int swi_header_format(void *page, uint64_t nr_pages, const char *label, struct swap_header *h);

/*
 * Read the header page @page into @h.  Accepts exactly what the kernel's swapon accepts from a
 * native-endian version-1 header: the magic, version 1, last_page >= 1, at most
 * SWAP_MAX_BADPAGES bad slots, each 1 .. last_page.
 * @return 0 (h->bad allocated, even when empty), -EINVAL (not such a header), or -ENOMEM.
 */
int swi_header_parse(const void *page, struct swap_header *h);

#endif /* SWAP_HEADER_H */
