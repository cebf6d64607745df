/* Times model/cpu_kernel.c's product() on GPT-2 124M's 48 block products (cold: 340 MB, from DRAM) and on one
 * HOT x 768 matrix over and over (hot: 768 kB, in L2), 2 threads, in one process (no ctypes call per product):
 *   cc -O3 -march=native -fopenmp -DKERNEL='"/path/to/cpu_kernel.c"' products_harness.c -lm -o h && ./h ROWS [REPS]
 * KERNEL: the tree's kernel or a variant of it. */
#ifndef HOT
#define HOT 256
#endif
#include KERNEL
#include <omp.h>
#include <stdio.h>
static float *randm(long n){ float *p=aligned_alloc(64,((n*4+63)/64)*64); for(long i=0;i<n;i++) p[i]=((i*2654435761u)%1000)/1000.0f-0.5f; return p;}
int main(int argc,char**argv){ long R=atol(argv[1]); int reps=argc>2?atoi(argv[2]):5;
 long shapes[4][2]={{2304,768},{768,768},{3072,768},{768,3072}}; float *W[48]; for(int l=0;l<48;l++) W[l]=randm(shapes[l%4][0]*shapes[l%4][1]);
 float *x=randm(R*3072), *y=randm(R*3072); double flop=0; for(int l=0;l<48;l++) flop+=2.0*R*shapes[l%4][0]*shapes[l%4][1];
 for(int rep=0;rep<reps;rep++){
  double t0=omp_get_wtime();
  for(int it=0;it<20;it++){
  #pragma omp parallel num_threads(2)
  for(int l=0;l<48;l++) product(x,W[l],NULL,y,R,shapes[l%4][1],shapes[l%4][0],0,0); }
  double cold=(omp_get_wtime()-t0)/20;
  t0=omp_get_wtime();
  #pragma omp parallel num_threads(2)
  for(int it=0;it<48*20;it++) product(x,W[1],NULL,y,R,768,HOT,0,0);
  double hot=(omp_get_wtime()-t0)/20;
  double hflop=48*2.0*R*768*HOT;
  printf("R%ld cold %.2f ms %.0f GFLOP/s | hot %.0f GFLOP/s\n",R,cold*1e3,flop/cold/1e9,hflop/hot/1e9);}
}
