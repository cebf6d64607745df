#include "cpu_kernel.h"
#include <stdlib.h>
#include <omp.h>
#include <stdio.h>
static float *randm(long n){ float *p=aligned_alloc(64,((n*4+63)/64)*64); for(long i=0;i<n;i++) p[i]=((i*2654435761u)%1000)/1000.0f-0.5f; return p;}
void set_one_row_stream(int on);  /* the kernel's, with AVX-512 */
int main(int argc,char**argv){ if(getenv("ONE_ROW_STREAM")) set_one_row_stream(1); long R=atol(argv[1]); long in=argc>2?atol(argv[2]):768;
 long hot_out=argc>3?atol(argv[3]):64;
 float *Wc[48]; long out=2304; for(int l=0;l<48;l++) Wc[l]=randm(out*in);
 float *Wh=randm(hot_out*in); float *x=randm(R*in), *y=randm(R*out);
 for(int rep=0;rep<5;rep++){
  double t0=omp_get_wtime();
  #pragma omp parallel num_threads(2)
  for(int l=0;l<48;l++) { product(x,Wc[l],NULL,y,R,in,out,0,0); _Pragma("omp barrier") }
  double tc=omp_get_wtime()-t0; double fc=2.0*R*in*out*48/tc/1e9;
  long reps=48*out/hot_out; t0=omp_get_wtime();
  #pragma omp parallel num_threads(2)
  for(long l=0;l<reps;l++) { product(x,Wh,NULL,y,R,in,hot_out,0,0); _Pragma("omp barrier") }
  double th=omp_get_wtime()-t0; double fh=2.0*R*in*hot_out*reps/th/1e9;
  printf("R%ld in%ld cold %.2f ms %.0f GF/s %.1f GB/s | hot(out %ld) %.2f ms %.0f GF/s\n",R,in,tc*1e3,fc,4.0*in*out*48/tc/1e9,hot_out,th*1e3,fh);
 }
}
