package io.megalith.parallel.mesh;

/**
 * Where one rank sits in a {@link DeviceMesh}. {@code epRank} and {@code edpRank} are not independent:
 * they split {@code dpRank} as {@code dpRank = epRank + ep * edpRank}.
 *
 * @param tpRank position in the tensor-parallel dimension, 0..tp-1
 * @param dpRank position in the data-parallel dimension, 0..dp-1
 * @param ppRank pipeline stage, 0..pp-1
 * @param epRank position in the expert-parallel dimension, 0..ep-1
 * @param edpRank position in the expert-data-parallel dimension, 0..dp/ep-1
 */
public record MeshCoordinates(int tpRank, int dpRank, int ppRank, int epRank, int edpRank) {
    @Override
    public String toString() {
        return "tp " + tpRank + ", dp " + dpRank + " (ep " + epRank + ", edp " + edpRank + "), pp " + ppRank;
    }
}
