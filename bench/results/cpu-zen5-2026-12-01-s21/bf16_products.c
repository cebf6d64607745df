#include "cpu_kernel.h"
#include <stdlib.h>
#include <stdio.h>
#include <math.h>
#include <omp.h>
static uint16_t *randm(long n){ uint16_t *p=aligned_alloc(64,((n*2+63)/64)*64); for(long i=0;i<n;i++){ float f=((i*2654435761u)%1000)/1000.0f-0.5f; p[i]=float_to_bf16(f);} return p;}
static float *randf(long n){ float *p=aligned_alloc(64,((n*4+63)/64)*64); for(long i=0;i<n;i++) p[i]=((i*2654435761u)%997)/997.0f-0.5f; return p;}
static void pack(const uint16_t *w, uint16_t *p, long in, long out){ long steps=in/2, P=(out+63)/64;
 for(long q=0;q<P;q++) for(long k=0;k<steps;k++) for(long j=0;j<64;j++) for(int h=0;h<2;h++){ long o=q*64+j; p[((q*steps+k)*64+j)*2+h]= o<out? w[o*in+2*k+h]:0; } }
int main(int argc,char**argv){
 long R=atol(argv[1]); int layers=12; long C=768; long V=50257;
 long ins[4]={C,C,C,4*C}, outs[4]={3*C,C,4*C,C};
 uint16_t *W[49], *P[49]; long I[49], O[49];
 for(int l=0;l<layers;l++) for(int j=0;j<4;j++){int i=l*4+j; I[i]=ins[j]; O[i]=outs[j]; W[i]=randm(I[i]*O[i]);}
 I[48]=C; O[48]=V; W[48]=randm(C*V);
 for(int i=0;i<49;i++){ long pan=(O[i]+63)/64; P[i]=aligned_alloc(64,pan*64*I[i]*2); pack(W[i],P[i],I[i],O[i]); }
 float *x=randf(R*4*C), *y=randf(R*V), *y2=randf(R*V);
 double md=0, mx=0; for(int i=0;i<49;i+=7){
  #pragma omp parallel num_threads(2)
  { product_bf16(x,W[i],NULL,y,R,I[i],O[i],0,0); product_panels_bf16(x,P[i],NULL,y2,R,I[i],O[i],0,0);}
  for(long j=0;j<R*O[i];j++){double d=fabs(y[j]-y2[j]); if(d>md) md=d; if(fabs(y[j])>mx) mx=fabs(y[j]);} }
 printf("max diff %g (max |y| %g)\n", md, mx);
 double ta[9], tb[9];
 for(int rep=0;rep<9;rep++) for(int side=0; side<2; side++){
   double t0=omp_get_wtime();
   #pragma omp parallel num_threads(2)
   for(int i=0;i<49;i++){ if(side==0) product_bf16(x,W[i],NULL,y,R,I[i],O[i],0,0); else product_panels_bf16(x,P[i],NULL,y2,R,I[i],O[i],0,0); _Pragma("omp barrier") }
   double t=omp_get_wtime()-t0; if(side==0) ta[rep]=t; else tb[rep]=t; }
 for(int i=0;i<9;i++)for(int j=i+1;j<9;j++){ if(ta[j]<ta[i]){double z=ta[i];ta[i]=ta[j];ta[j]=z;} if(tb[j]<tb[i]){double z=tb[i];tb[i]=tb[j];tb[j]=z;} }
 printf("R%ld  plain %.2f ms (%.2f-%.2f)  panels %.2f ms (%.2f-%.2f)  ratio %.2f\n",R,ta[4]*1e3,ta[0]*1e3,ta[8]*1e3,tb[4]*1e3,tb[0]*1e3,tb[8]*1e3,ta[4]/tb[4]);
}
