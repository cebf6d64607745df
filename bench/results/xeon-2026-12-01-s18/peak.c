#include <immintrin.h>
#include <omp.h>
#include <stdio.h>
int main(){ for(int t=1;t<=2;t++) for(int rep=0;rep<3;rep++){ double t0=omp_get_wtime(); float out=0;
 #pragma omp parallel num_threads(t) reduction(+:out)
 { __m512 a[24]; for(int k=0;k<24;k++) a[k]=_mm512_set1_ps(k*1e-3f); __m512 m=_mm512_set1_ps(0.999f), c=_mm512_set1_ps(1e-4f);
   for(long i=0;i<20000000;i++){ 
#pragma GCC unroll 24
     for(int k=0;k<24;k++) a[k]=_mm512_fmadd_ps(a[k],m,c); }
   for(int k=0;k<24;k++) out+=_mm512_reduce_add_ps(a[k]); }
 double dt=omp_get_wtime()-t0; printf("threads %d: %.0f GF/s (%g)\n",t,20000000.0*24*32*t/dt/1e9,out);} }
