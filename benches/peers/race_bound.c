/* race_bound.c: what the exponential race can gain at tau = 1, as plain C loops.
 *
 * At tau = 1, exp(l + g) with g = -ln(-ln u) is exp(l) / E with E = -ln u ~ Exp(1): one
 * logarithm, one exponential and one division per element instead of two logarithms and an
 * exponential. This file times the per-element arithmetic of both, in the form of
 * ../shared/peers/vecmath.c's `gumbel_fused4` (its Cephes-style polynomials and counter hash,
 * four independent element streams per iteration; one pass, no max or normalisation):
 *
 *   general4  u -> g = -log(-log u) -> e = exp(x + g - m), store, sum     (vecmath's gumbel_fused4)
 *   race4     u -> E = -log u       -> e = exp(x - m) / E,  store, sum
 *
 * on a 64K-float array that stays in L2, one thread. docs/kernels.md quotes its figures.
 *
 *   gcc -O3 -march=native -ffast-math -mprefer-vector-width=512 benches/peers/race_bound.c -o /tmp/race_bound -lm
 *   /tmp/race_bound        (and again with -mprefer-vector-width=256)
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define NE (64 * 1024)
#define REPS 4000

static inline float bits2f(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }
static inline uint32_t f2bits(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }

/* Cephes expf, as in vecmath.c */
static inline float exp_poly(float x) {
  x = fminf(fmaxf(x, -87.3f), 88.3f);
  float fx = __builtin_rintf(x * 1.44269504088896341f);
  float r = x - fx * 0.693359375f;
  r = r - fx * -2.12194440e-4f;
  float z = r * r;
  float p = 1.9875691500E-4f;
  p = p * r + 1.3981999507E-3f;
  p = p * r + 8.3334519073E-3f;
  p = p * r + 4.1665795894E-2f;
  p = p * r + 1.6666665459E-1f;
  p = p * r + 5.0000001201E-1f;
  p = p * z + r + 1.0f;
  int32_t n = (int32_t)fx;
  return p * bits2f((uint32_t)(n + 127) << 23);
}

/* Cephes logf for normal x > 0, as in vecmath.c */
static inline float log_poly(float x) {
  uint32_t ix = f2bits(x) - 0x3f3504f3u;
  int32_t e = (int32_t)ix >> 23;
  float f = bits2f((ix & 0x007fffffu) + 0x3f3504f3u) - 1.0f;
  float z = f * f;
  float p = 7.0376836292E-2f;
  p = p * f - 1.1514610310E-1f;
  p = p * f + 1.1676998740E-1f;
  p = p * f - 1.2420140846E-1f;
  p = p * f + 1.4249322787E-1f;
  p = p * f - 1.6668057665E-1f;
  p = p * f + 2.0000714765E-1f;
  p = p * f - 2.4999993993E-1f;
  p = p * f + 3.3333331174E-1f;
  float fe = (float)e;
  float y = f * z * p;
  y += -2.12194440e-4f * fe;
  y += -0.5f * z;
  return f + y + 0.693359375f * fe;
}

/* counter hash -> uniform in (0, 1), as in vecmath.c */
static inline float rng_u01(uint32_t i, uint32_t seed) {
  uint32_t h = i * 0x9E3779B9u + seed;
  h ^= h >> 16; h *= 0x85ebca6bu;
  h ^= h >> 13; h *= 0xc2b2ae35u;
  h ^= h >> 16;
  return ((float)(h >> 8) + 0.5f) * (1.0f / 16777216.0f);
}

static volatile float sink;

/* vecmath.c's gumbel_fused4, unchanged in substance: four streams, grouped by operation */
__attribute__((noinline)) static void general4(const float *restrict x, float *restrict y, int rep) {
  const float m = 3.0f;
  const int Q = NE / 4;
  float s0 = 0.0f, s1 = 0.0f, s2 = 0.0f, s3 = 0.0f;
  const uint32_t seed = (uint32_t)rep * 0x632BE5ABu;
  for (int i = 0; i < Q; i++) {
    float u0 = rng_u01((uint32_t)i, seed), u1 = rng_u01((uint32_t)(i + Q), seed);
    float u2 = rng_u01((uint32_t)(i + 2 * Q), seed), u3 = rng_u01((uint32_t)(i + 3 * Q), seed);
    float l0 = log_poly(u0), l1 = log_poly(u1), l2 = log_poly(u2), l3 = log_poly(u3);
    float g0 = -log_poly(-l0), g1 = -log_poly(-l1), g2 = -log_poly(-l2), g3 = -log_poly(-l3);
    float e0 = exp_poly(x[i] + g0 - m), e1 = exp_poly(x[i + Q] + g1 - m);
    float e2 = exp_poly(x[i + 2 * Q] + g2 - m), e3 = exp_poly(x[i + 3 * Q] + g3 - m);
    y[i] = e0; y[i + Q] = e1; y[i + 2 * Q] = e2; y[i + 3 * Q] = e3;
    s0 += e0; s1 += e1; s2 += e2; s3 += e3;
  }
  sink = s0 + s1 + s2 + s3;
}

/* the same with the race: one log, one exp, one division */
__attribute__((noinline)) static void race4(const float *restrict x, float *restrict y, int rep) {
  const float m = 3.0f;
  const int Q = NE / 4;
  float s0 = 0.0f, s1 = 0.0f, s2 = 0.0f, s3 = 0.0f;
  const uint32_t seed = (uint32_t)rep * 0x632BE5ABu;
  for (int i = 0; i < Q; i++) {
    float u0 = rng_u01((uint32_t)i, seed), u1 = rng_u01((uint32_t)(i + Q), seed);
    float u2 = rng_u01((uint32_t)(i + 2 * Q), seed), u3 = rng_u01((uint32_t)(i + 3 * Q), seed);
    float l0 = -log_poly(u0), l1 = -log_poly(u1), l2 = -log_poly(u2), l3 = -log_poly(u3);
    float e0 = exp_poly(x[i] - m) / l0, e1 = exp_poly(x[i + Q] - m) / l1;
    float e2 = exp_poly(x[i + 2 * Q] - m) / l2, e3 = exp_poly(x[i + 3 * Q] - m) / l3;
    y[i] = e0; y[i + Q] = e1; y[i + 2 * Q] = e2; y[i + 3 * Q] = e3;
    s0 += e0; s1 += e1; s2 += e2; s3 += e3;
  }
  sink = s0 + s1 + s2 + s3;
}

static double seconds(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

int main(void) {
  float *x = aligned_alloc(64, NE * sizeof(float)), *y = aligned_alloc(64, NE * sizeof(float));
  for (int i = 0; i < NE; i++) x[i] = (float)(10.0 * (i + 0.5) / NE - 5.0); /* logits in [-5, 5] */
  struct { const char *name; void (*fn)(const float *restrict, float *restrict, int); } ks[] = {
      {"general4", general4}, {"race4", race4}};
  double rate[2];
  for (int k = 0; k < 2; k++) {
    for (int r = 0; r < 50; r++) ks[k].fn(x, y, r); /* warm-up */
    double t0 = seconds();
    for (int r = 0; r < REPS; r++) ks[k].fn(x, y, r);
    rate[k] = (double)NE * REPS / (seconds() - t0) / 1e6;
    printf("%-9s %9.1f M elements/s\n", ks[k].name, rate[k]);
  }
  printf("race4 / general4: %.2f\n", rate[1] / rate[0]);
  free(x);
  free(y);
  return 0;
}
