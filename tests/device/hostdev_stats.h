/* The "hostdev" test plugin's extension, reached through get_proc_address("bitnet_hostdev_stats"):
 *
 *     void bitnet_hostdev_stats(void* plugin, bitnet_hostdev_stats_t* out);
 *
 * What the host made the emulated device do, so a test can assert that a device session kept
 * every buffer in device memory and replayed its recorded steps. */
#ifndef BITNET_HOSTDEV_STATS_H
#define BITNET_HOSTDEV_STATS_H

#include <stdint.h>

typedef struct bitnet_hostdev_stats_t {
    uint64_t kernel_runs;      /* kernels executed (eagerly or inside a replayed graph) */
    uint64_t recorded_calls;   /* kernel calls recorded into graphs */
    uint64_t graph_launches;
    uint64_t refused_calls;    /* calls refused because a pointer was not device memory */
    uint64_t weight_uploads;   /* weights copied to the device by pack_weights */
    uint64_t live_allocations;
    char first_refusal[256];   /* why the first refused call was refused ("" when none) */
} bitnet_hostdev_stats_t;

typedef void (*bitnet_hostdev_stats_fn)(void* plugin, bitnet_hostdev_stats_t* out);

#endif /* BITNET_HOSTDEV_STATS_H */
