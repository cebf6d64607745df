/* The FMA peak of 2 threads (16 independent 512-bit FMA chains each): cc -O3 -march=native -fopenmp fma_peak.c */
#include <immintrin.h>
#include <stdio.h>
#include <omp.h>
int main(){ double t0=omp_get_wtime(); long N=200000000; float out=0;
#pragma omp parallel num_threads(2) reduction(+:out)
{ __m512 a[16]; for(int k=0;k<16;k++) a[k]=_mm512_set1_ps(k*1e-9f); __m512 x=_mm512_set1_ps(0.999999f), y=_mm512_set1_ps(1e-9f);
  for(long i=0;i<N/2;i++){ for(int k=0;k<16;k++) a[k]=_mm512_fmadd_ps(a[k],x,y);} 
  for(int k=0;k<16;k++) out+=_mm512_reduce_add_ps(a[k]); }
 double t=omp_get_wtime()-t0; printf("%.0f GFLOP/s (%g)\n", N*16.0*32/t/1e9, out); }
