/* Per-shape cold timing of product() as the C step calls it: bias, GELU on c_fc, residual add on the projections. */
#include KERNEL
#ifndef FCACT
#define FCACT ACT_GELU_TANH
#endif
#include <omp.h>
#include <stdio.h>
static float *randm(long n){ float *p=aligned_alloc(64,((n*4+63)/64)*64); for(long i=0;i<n;i++) p[i]=((i*2654435761u)%1000)/1000.0f-0.5f; return p;}
int main(int argc,char**argv){ long R=atol(argv[1]); int reps=argc>2?atoi(argv[2]):3;
 long shapes[4][2]={{2304,768},{768,768},{3072,768},{768,3072}}; int acts[4]={0,0,FCACT,0}, adds[4]={0,1,0,1};
 const char *names[4]={"qkv","proj","fc","mlp_proj"};
 float *W[48], *B[48]; for(int l=0;l<48;l++){ W[l]=randm(shapes[l%4][0]*shapes[l%4][1]); B[l]=randm(shapes[l%4][0]); }
 float *x=randm(R*3072), *y=randm(R*3072);
 for(int rep=0;rep<reps;rep++){ double t[4]={0};
  for(int it=0;it<20;it++){
  #pragma omp parallel num_threads(2)
  for(int l=0;l<48;l++){ double t0=omp_get_wtime(); product(x,W[l],B[l],y,R,shapes[l%4][1],shapes[l%4][0],acts[l%4],adds[l%4]);
     _Pragma("omp barrier") _Pragma("omp master") t[l%4]+=omp_get_wtime()-t0; } }
  printf("R%ld", R); for(int s=0;s<4;s++) printf(" %s %.2f", names[s], t[s]/20*1e3); printf(" ms\n"); }
}
