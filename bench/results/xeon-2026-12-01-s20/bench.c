#include "cpu_kernel.h"
#include <stdlib.h>
#include <stdio.h>
#include <math.h>
#include <omp.h>
void pack(const float *w, float *p, long in, long out);
void product_packed(const float *x, const float *p, const float *b, float *y, long rows, long in, long out, int act, int add);
static float *randm(long n){ float *p=aligned_alloc(64,((n*4+63)/64)*64); for(long i=0;i<n;i++) p[i]=((i*2654435761u)%1000)/1000.0f-0.5f; return p;}
#define PW (NV*16)
#ifndef PF_DIST
#define PF_DIST 0
#endif
int main(int argc,char**argv){
 long R=atol(argv[1]); int layers=12; long C=768; long V=50257;
 long ins[4]={C,C,C,4*C}, outs[4]={3*C,C,4*C,C};
 float *W[49], *P[49]; long I[49], O[49];
 for(int l=0;l<layers;l++) for(int j=0;j<4;j++){int i=l*4+j; I[i]=ins[j]; O[i]=outs[j]; W[i]=randm(I[i]*O[i]);}
 I[48]=C; O[48]=V; W[48]=randm(C*V);
 if(argc>2){ /* hot: 49 products of one 384 x 768 matrix, which stays in L2 */
  float *h=randm(384*C); for(int i=0;i<49;i++){W[i]=h; I[i]=C; O[i]=384;} }
 for(int i=0;i<49;i++){ long pan=(O[i]+PW-1)/PW; if(i && W[i]==W[i-1]){P[i]=P[i-1];continue;} P[i]=aligned_alloc(64,pan*PW*I[i]*4); pack(W[i],P[i],I[i],O[i]); }
 double flop=0; for(int i=0;i<49;i++) flop+=2.0*R*I[i]*O[i];
 float *x=randm(R*4*C), *y=randm(R*V), *y2=randm(R*V);
 /* check */
 double md=0; for(int i=0;i<49;i+=7){
  #pragma omp parallel num_threads(2)
  { product(x,W[i],NULL,y,R,I[i],O[i],0,0); product_packed(x,P[i],NULL,y2,R,I[i],O[i],0,0);} 
  for(long j=0;j<R*O[i];j++){double d=fabs(y[j]-y2[j]); if(d>md) md=d;} }
 printf("max diff %g\n", md);
 double bestA=1e9,bestB=1e9, ta[9], tb[9];
 for(int rep=0;rep<9;rep++){
  for(int side=0; side<2; side++){
   double t0=omp_get_wtime();
   #pragma omp parallel num_threads(2)
   for(int i=0;i<49;i++){ if(side==0) product(x,W[i],NULL,y,R,I[i],O[i],0,0); else product_packed(x,P[i],NULL,y2,R,I[i],O[i],0,0); _Pragma("omp barrier") }
   double t=omp_get_wtime()-t0; if(side==0){ta[rep]=t; if(t<bestA)bestA=t;} else {tb[rep]=t; if(t<bestB)bestB=t;}
  }
 }
 /* medians */
 for(int i=0;i<9;i++)for(int j=i+1;j<9;j++){ if(ta[j]<ta[i]){double z=ta[i];ta[i]=ta[j];ta[j]=z;} if(tb[j]<tb[i]){double z=tb[i];tb[i]=tb[j];tb[j]=z;} }
 printf("%s R%ld NV%d MR%d KC%d PF%d  GF/s main %.0f packed %.0f  main %.2f ms (min %.2f)  packed %.2f ms (min %.2f)  ratio %.2f\n",argc>2?"hot ":"cold",R,NV,MR,KC,PF_DIST,flop/ta[4]/1e9,flop/tb[4]/1e9,ta[4]*1e3,bestA*1e3,tb[4]*1e3,bestB*1e3,ta[4]/tb[4]);
}
