/*
 * The bench's ceiling: SHA-256 of one byte range of a file with OpenSSL, read() into a 256 KiB
 * buffer as modelseal's workers do, in C with no runtime start-up. Run one per core over
 * disjoint ranges to see what any reader of page-cached files reaches on this machine.
 * Usage: sha256-range FILE START LENGTH   (prints the hex digest)
 */
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int main(int argc, char **argv) {
  if (argc != 4) return 2;
  int fd = open(argv[1], O_RDONLY);
  if (fd < 0) return 1;
  off_t start = atoll(argv[2]);
  size_t len = (size_t)atoll(argv[3]), done = 0, bs = 256 * 1024;
  // Page-aligned, as Node's buffers are: an unaligned target makes the kernel copy ~50% slower.
  unsigned char *buf = aligned_alloc(4096, bs), md[32];
  unsigned int mdlen = 0;
  EVP_MD_CTX *ctx = EVP_MD_CTX_new();
  EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
  while (done < len) {
    ssize_t n = pread(fd, buf, len - done < bs ? len - done : bs, start + (off_t)done);
    if (n <= 0) return 1;
    EVP_DigestUpdate(ctx, buf, (size_t)n);
    done += (size_t)n;
  }
  EVP_DigestFinal_ex(ctx, md, &mdlen);
  for (unsigned int i = 0; i < mdlen; i++) printf("%02x", md[i]);
  printf("\n");
  return 0;
}
