/* Clocks in milliseconds, and bounded condition waits. */
#include "util/clock.h"

static int64_t clock_ms(clockid_t clk)
{
        struct timespec ts;

        clock_gettime(clk, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t now_ms(void)
{
        return clock_ms(CLOCK_REALTIME);
}

int64_t mono_ms(void)
{
        return clock_ms(CLOCK_MONOTONIC);
}

int64_t mono_ns(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void cond_wait_ms(pthread_cond_t *cond, pthread_mutex_t *mu, clockid_t clk, int64_t ms)
{
        struct timespec ts;

        clock_gettime(clk, &ts);
        ts.tv_sec += ms / 1000;
        ts.tv_nsec += (ms % 1000) * 1000000;
        if (ts.tv_nsec >= 1000000000) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000;
        }
        pthread_cond_timedwait(cond, mu, &ts);
}
