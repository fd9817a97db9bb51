package io.megalith.comm;

/**
 * The process groups one rank trains with, from the device mesh: data-parallel (shares the batch, sums
 * gradients), tensor-parallel (splits layers), pipeline (consecutive stages), and the embedding group that
 * ties the first and last stage's copies of the token embedding (null on other stages or without
 * pipelining); with expert parallelism, the expert-parallel group (splits the experts of every MoE layer, exchanges
 * tokens all-to-all) and the expert-data-parallel group (holds the same experts, sums their gradients). Groups of
 * one are {@link SingleRankCommunicator}s.
 */
public record RankGroups(Communicator dataParallel, Communicator tensorParallel, Communicator pipeline,
        Communicator embedding, Communicator expertParallel, Communicator expertDataParallel) {
    /**
     * Without expert parallelism: the expert-parallel group is this rank alone and the expert-data-parallel group
     * is the data-parallel group (every rank holds every expert).
     */
    public RankGroups(Communicator dataParallel, Communicator tensorParallel, Communicator pipeline,
            Communicator embedding) {
        this(dataParallel, tensorParallel, pipeline, embedding, new SingleRankCommunicator("ep", 0), dataParallel);
    }

    public static RankGroups single() {
        return new RankGroups(new SingleRankCommunicator("dp", 0), new SingleRankCommunicator("tp", 0),
                new SingleRankCommunicator("pp", 0), null);
    }

    public static RankGroups dataParallelOnly(Communicator dp) {
        return new RankGroups(dp, new SingleRankCommunicator("tp", 0), new SingleRankCommunicator("pp", 0), null);
    }
}
