/*
 * backend_file.h - a swap file (or block device) in the Linux format, as a store of pages by
 * slot (backend_file.c).  The file area's backend is this store; other backends (a tier in
 * front of a file) may use one too.
 */
#ifndef SWAP_BACKEND_FILE_H
#define SWAP_BACKEND_FILE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "backend.h"

struct swap_file;

/* What opening a swap file takes (the file-related fields of struct swap_area_opts). */
struct swap_file_opts {
	const char *path;
	uint64_t nr_pages; /* 0: from an existing file's header */
	const char *label;
	const uint32_t *bad_pages;
	uint32_t nr_bad_pages;
	bool checksum; /* SWAP_AREA_CHECKSUM */
};

/*
 * Open @o->path, or create and format it (mkswap's layout, blocks allocated) if it does not
 * exist; lock it (flock) so it cannot be on twice.  *@layout: its slots and bad slots.
 * @return 0, or -EINVAL (no valid header, shorter than its header says, nr_pages past it, or
 *         a bad label / bad-page list / size for a file this call formats), -ENOENT, -EBUSY
 *         (locked: already on), -ENOSPC, -ENOMEM, another -errno of open/fallocate/pread/pwrite.
 *         A file this call created is removed again on error.
 */
int swi_file_open(const struct swap_file_opts *o, struct swap_file **out,
		  struct swap_backend_layout *layout);
/* The open succeeded for good: a file it created is no longer removed by swi_file_close. */
void swi_file_commit(struct swap_file *f);
/* Close (and unlock) the file; one created since the last commit is removed. */
void swi_file_close(struct swap_file *f);

/* Slot I/O: 0, -ENOSPC (file system full or over quota), or -EIO; reads also -EIO for a slot
 * never written, torn, or failing its checksum.  Slot state needs no lock: a slot is written
 * and read by one thread at a time (the caller sees to it). */
int swi_file_write(struct swap_file *f, uint64_t slot, const void *page);
/* @n images (each 1..SWAP_PAGE_SIZE bytes, zero-padded to its slot in the file) to the
 * consecutive slots from @first, in one pwritev where the kernel allows; n <= 256. */
int swi_file_write_images(struct swap_file *f, uint64_t first, const struct iovec *images,
			  unsigned n);
int swi_file_read(struct swap_file *f, uint64_t slot, void *page);
/* Forget slot @slot: it reads -EIO until written again. */
void swi_file_discard(struct swap_file *f, uint64_t slot);
void swi_file_fill_stats(struct swap_file *f, struct swap_area_stats *st);

#endif /* SWAP_BACKEND_FILE_H */
