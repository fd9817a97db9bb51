package io.megalith.parallel.mesh;

import io.megalith.comm.Communicator;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/** A {@link GroupFactory} for one rank that records every call and hands out {@link FakeCommunicator}s. */
class RecordingGroupFactory implements GroupFactory {
    record Call(int groupId, String name, List<Integer> ranks) {}

    private final int myRank;
    final List<Call> calls = new ArrayList<>();
    final List<FakeCommunicator> made = new ArrayList<>();

    RecordingGroupFactory(int myRank) {
        this.myRank = myRank;
    }

    @Override
    public Communicator create(int groupId, String name, int[] globalRanks) {
        calls.add(new Call(groupId, name, Arrays.stream(globalRanks).boxed().toList()));
        int groupRank = Arrays.stream(globalRanks).boxed().toList().indexOf(myRank);
        FakeCommunicator c = new FakeCommunicator(groupId, name, globalRanks, groupRank);
        made.add(c);
        return c;
    }
}
