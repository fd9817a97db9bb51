package io.megalith.comm;

/** Element types collectives reduce; buffers are little-endian, as libtorch's memory on x86-64. */
public enum ElementType {
    F32(4), I32(4), I64(8);

    public final int bytes;

    ElementType(int bytes) {
        this.bytes = bytes;
    }
}
