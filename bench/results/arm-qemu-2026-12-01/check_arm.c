/* The fp32 and bf16 products of model/cpu_kernel.c built for aarch64 (NEON by the compiler), against a double
 * reference, rows 1-32: see README.md. */
#include "cpu_kernel.h"
#include <stdio.h>
#include <stdlib.h>
#include <math.h>
#include <string.h>
void skinny_linear(const float *x, const float *w, const float *b, float *y, long rows, long in, long out, int act, int threads);
void skinny_linear_bf16(const float *x, const uint16_t *w, const float *b, float *y, long rows, long in, long out, int act, int threads);
int main(){ long in=768,out=200; float *w=malloc(out*in*4),*x=malloc(32*in*4),*y=malloc(32*out*4),*b=malloc(out*4); uint16_t *wb=malloc(out*in*2);
 for(long i=0;i<out*in;i++){ w[i]=sinf(i*0.37f); uint32_t u; memcpy(&u,&w[i],4); wb[i]=u>>16; } for(long i=0;i<32*in;i++) x[i]=cosf(i*0.11f); for(long i=0;i<out;i++) b[i]=0.01f*i;
 int bad=0; for(int bf=0;bf<2;bf++) for(long R=1;R<=32;R++){ if(bf) skinny_linear_bf16(x,wb,b,y,R,in,out,0,2); else skinny_linear(x,w,b,y,R,in,out,0,2); double e=0;
  for(long r=0;r<R;r++) for(long o=0;o<out;o++){ double s=b[o]; for(long i=0;i<in;i++) s+=(double)x[r*in+i]*(bf?bf16_to_float(wb[o*in+i]):w[o*in+i]); double d=fabs(s-y[r*out+o]); if(d>e)e=d;}
  if(e>1e-3){ printf("%s R%ld err %g\n",bf?"bf16":"fp32",R,e); bad=1; } }
 printf(bad?"FAILED\n":"fp32 and bf16 products match, rows 1-32\n"); return bad; }
