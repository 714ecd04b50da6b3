#include <stdio.h>
#include "reckon/core.h"
int main(void) { printf("reckon %s\n", rk_version()); return 0; }
