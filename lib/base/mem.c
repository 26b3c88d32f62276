/*
 * mem.c — the engine's allocator.
 *
 * With jemalloc, every allocation of the engine goes to one arena created for it on first
 * use (mallocx with MALLOCX_ARENA), so its footprint can be read apart from the embedding
 * program's through mallctl. Allocations bypass the thread cache (MALLOCX_TCACHE_NONE): a
 * cached region may belong to another arena, which would defeat the accounting.
 *
 * Frees go through the freeing thread's cache, which hands regions back to their arena in
 * batches. Freeing one by one straight into the arena takes the arena's bin lock for each
 * region: when the worker frees the nodes of a large old Merkle version (millions of them)
 * while the commit leader allocates new ones, that lock contention slowed commits tenfold
 * (measured: 23 ms instead of 1.4 ms a 100-update version). The price is a little blur in
 * the accounting: a region in a thread's cache may serve that thread's next malloc of the
 * same size before it returns to our arena.
 *
 * Sanitizer builds use libc malloc so that ASan and TSan see every allocation, and so does
 * libiodb.so (this file is compiled twice, lib/base/CMakeLists.txt): a shared library linked
 * with Debian's libjemalloc.so.2 cannot be dlopen-ed into a running process.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "lib/base/base.h"

#ifdef IODB_USE_JEMALLOC
#include <jemalloc/jemalloc.h>

static unsigned mem_arena;
static int mem_flags;
static pthread_once_t mem_once = PTHREAD_ONCE_INIT;

static void mem_init(void)
{
	unsigned ind;
	size_t sz = sizeof(ind);

	/* If no arena can be made, fall back to the default arena, still without tcache. */
	mem_flags = MALLOCX_TCACHE_NONE;
	if (mallctl("arenas.create", &ind, &sz, NULL, 0) == 0) {
		mem_arena = ind;
		mem_flags |= MALLOCX_ARENA(ind);
	}
}

void *mem_alloc(size_t n)
{
	pthread_once(&mem_once, mem_init);
	return mallocx(n ? n : 1, mem_flags);
}

void *mem_calloc(size_t n, size_t size)
{
	if (size && n > SIZE_MAX / size)
		return NULL;
	pthread_once(&mem_once, mem_init);
	size_t total = n * size;

	return mallocx(total ? total : 1, mem_flags | MALLOCX_ZERO);
}

void *mem_realloc(void *p, size_t n)
{
	if (!p)
		return mem_alloc(n);
	return rallocx(p, n ? n : 1, mem_flags);
}

void mem_free(void *p)
{
	if (p)
		dallocx(p, 0);
}

uint64_t mem_arena_allocated(void)
{
	char name[64];
	size_t small = 0, large = 0, sz = sizeof(size_t);
	uint64_t epoch = 1;
	size_t esz = sizeof(epoch);

	pthread_once(&mem_once, mem_init);
	mallctl("epoch", &epoch, &esz, &epoch, esz);
	snprintf(name, sizeof(name), "stats.arenas.%u.small.allocated", mem_arena);
	if (mallctl(name, &small, &sz, NULL, 0) != 0)
		small = 0;
	snprintf(name, sizeof(name), "stats.arenas.%u.large.allocated", mem_arena);
	if (mallctl(name, &large, &sz, NULL, 0) != 0)
		large = 0;
	return (uint64_t)small + large;
}

#else /* libc malloc */

void *mem_alloc(size_t n)
{
	return malloc(n ? n : 1);
}

void *mem_calloc(size_t n, size_t size)
{
	return calloc(n ? n : 1, size ? size : 1);
}

void *mem_realloc(void *p, size_t n)
{
	return realloc(p, n ? n : 1);
}

void mem_free(void *p)
{
	free(p);
}

uint64_t mem_arena_allocated(void)
{
	return 0;
}

#endif

void *mem_dup(const void *p, size_t n)
{
	void *q = mem_alloc(n);

	if (q && n)
		memcpy(q, p, n);
	return q;
}

void iodb_free(void *p)
{
	mem_free(p);
}
