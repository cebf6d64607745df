#!/bin/bash
# products_ab_bf16.sh OUT TREE_A TREE_B [CFLAGS]: ../xeon-2026-12-02-s29/products_ab.c turned to GPT-2's 49 bf16
# panel products (x fp32, so BF16_WIDE: 248 MB of weights), built as ../xeon-2026-12-02-s29/products_ab.sh builds it
here=$(cd "$(dirname "$0")" && pwd); s29=$here/../xeon-2026-12-02-s29; c=/tmp/products_ab_bf16.c
sed -e "s/GPT-2 124M's 49 fp32 panel products (497 MB)/GPT-2 124M's 49 bf16 panel products (248 MB)/" -e 's/Session 29:/Session 30:/' \
    -e 's/(\*prod)(const float \*, const float \*,/(*prod)(const float *, const unsigned short *,/' \
    -e 's/void pp_\([AB]\)(const float \*, const float \*,/void ppb_\1(const float *, const unsigned short *,/' \
    -e 's/static float \*W\[49\], \*x, \*y;/static unsigned short *W[49]; static float *x, *y;/' \
    -e 's/O\[i\] \* I\[i\] \* 4); for/O[i] * I[i] * 2); for/; s/W\[i\]\[j\] = (j % 7) \* 0.01f;/W[i][j] = 0x3c00 + j % 7;/' \
    -e 's/run(pp_\([AB]\)/run(ppb_\1/g' $s29/products_ab.c > $c && bash $s29/products_ab.sh "$1" "$2" "$3" "$4" $c
