/* Clocks in milliseconds, and bounded condition waits. */
#ifndef IDYL_CLOCK_H
#define IDYL_CLOCK_H

#include <pthread.h>
#include <stdint.h>
#include <time.h>

/* Wall-clock unix milliseconds: timestamps that are stored or shown. */
int64_t now_ms(void);
/* Monotonic milliseconds: intervals, deadlines, back-off. */
int64_t mono_ms(void);
/* Monotonic nanoseconds: short durations that metrics record. */
int64_t mono_ns(void);

/* Waits on cond (whose clock is clk: CLOCK_REALTIME unless it was created
 * with pthread_condattr_setclock) until signalled or ms pass. mu is held. */
void cond_wait_ms(pthread_cond_t *cond, pthread_mutex_t *mu, clockid_t clk, int64_t ms);

#endif
