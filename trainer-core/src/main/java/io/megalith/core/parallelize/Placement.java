package io.megalith.core.parallelize;

import io.megalith.comm.Communicator;
import io.megalith.comm.RankGroups;
import io.megalith.core.pipeline.PpLayout;
import io.megalith.core.tensorparallel.TpLayout;

/**
 * Where one rank sits: its tensor-parallel layout and group ({@code tpGroup} may be null with a layout of one), its
 * pipeline stage, whether activations between tensor-parallel regions are split along the sequence (only with tp > 1),
 * and its expert-parallel group (null: every rank holds every expert).
 */
public record Placement(TpLayout tp, Communicator tpGroup, PpLayout pp, boolean sequenceParallel,
        Communicator expertParallel) {
    /** One rank holding the whole model. */
    public static final Placement SINGLE = new Placement(TpLayout.SINGLE, null, PpLayout.SINGLE, false, null);

    public Placement {
        sequenceParallel = sequenceParallel && tp.parallel();
        expertParallel = expertParallel != null && expertParallel.size() > 1 ? expertParallel : null;
    }

    /** This rank's place in {@code groups}' tensor-parallel, pipeline and expert-parallel groups. */
    public static Placement of(RankGroups groups, boolean sequenceParallel) {
        Communicator tp = groups.tensorParallel();
        Communicator pp = groups.pipeline();
        return new Placement(new TpLayout(tp.rank(), tp.size()), tp, new PpLayout(pp.rank(), pp.size()),
                sequenceParallel, groups.expertParallel());
    }

    /** A rank of the tensor-parallel group {@code tp} (one pipeline stage, no sequence or expert parallelism). */
    public static Placement tensorParallel(Communicator tp) {
        return new Placement(new TpLayout(tp.rank(), tp.size()), tp, PpLayout.SINGLE, false, null);
    }
}
