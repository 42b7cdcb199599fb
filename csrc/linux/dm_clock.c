/* The clock every rate is measured on: CLOCK_MONOTONIC, which does not jump when the wall
   clock is set (docs/semantics.md, "Rates in general"). */
#define _POSIX_C_SOURCE 200809L

#include <time.h>

#include "danube_metrics.h"

int64_t dm_monotonic_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}
