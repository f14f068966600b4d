/* fs_copy: sendfile, copy_file_range, flock and fallocate in directory
 * argv[1]. Prints only deterministic facts; exits 0. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc < 2) return 2;
    char path_a[4096], path_b[4096];
    snprintf(path_a, sizeof path_a, "%s/copy_a", argv[1]);
    snprintf(path_b, sizeof path_b, "%s/copy_b", argv[1]);
    int a = open(path_a, O_CREAT | O_RDWR | O_TRUNC, 0644);
    for (int i = 0; i < 1000; i++) dprintf(a, "line %d\n", i);
    int b = open(path_b, O_CREAT | O_RDWR | O_TRUNC, 0644);
    off_t off = 10;
    ssize_t n = sendfile(b, a, &off, 100);
    printf("sendfile %zd, offset now %ld\n", n, (long)off);
    loff_t in = 0, out = 100;
    n = copy_file_range(a, &in, b, &out, 5000, 0);
    printf("copy_file_range %zd, in %ld out %ld\n", n, (long)in, (long)out);
    char x[32] = {0}, y[32] = {0};
    pread(a, x, 20, 10);
    pread(b, y, 20, 0);
    printf("sendfile copied the right bytes: %s\n", memcmp(x, y, 20) == 0 ? "yes" : "no");
    struct stat st;
    fstat(b, &st);
    printf("size after copies %ld\n", (long)st.st_size);
    printf("flock ex %d, un %d, bad op %s\n", flock(a, LOCK_EX), flock(a, LOCK_UN),
           flock(a, 3) == -1 && errno == EINVAL ? "EINVAL" : "accepted");
    printf("fallocate %d\n", fallocate(b, 0, 0, 100000));
    fstat(b, &st);
    printf("size after fallocate %ld\n", (long)st.st_size);
    printf("copy_file_range flags %s\n",
           copy_file_range(a, NULL, b, NULL, 10, 1) == -1 && errno == EINVAL ? "EINVAL" : "accepted");
    unlink(path_a);
    unlink(path_b);
    return 0;
}
