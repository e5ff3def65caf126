/*
 * Replays the fuzzing corpus through the fuzz target without libFuzzer, so
 * that make test runs every input ever kept under the sanitizers:
 * build/fuzz-replay FILE...
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        FILE *f = fopen(argv[i], "rb");
        if (!f) {
            perror(argv[i]);
            return 1;
        }
        uint8_t *buf = malloc(2 * 1024 * 1024);
        size_t n = fread(buf, 1, 2 * 1024 * 1024, f);
        fclose(f);
        LLVMFuzzerTestOneInput(buf, n);
        free(buf);
    }
    printf("fuzz corpus: %d inputs replayed\n", argc - 1);
    return 0;
}
