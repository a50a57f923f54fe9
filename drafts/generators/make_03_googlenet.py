"""Generate notebooks/03_googlenet.ipynb (run from anywhere; then execute it in place)."""

from nbgen import Notebook

nb = Notebook()

# ----------------------------------------------------------------------------- title
nb.md(
    """
    # 3. GoogLeNet: the Inception module, stacked 22 layers deep

    Lessons 1 and 2 built one Inception module and made it cheap with 1x1 reductions. This lesson
    assembles the whole network of the 2014 paper (Szegedy et al., *Going Deeper with
    Convolutions*) from that module and takes it apart again, layer by layer and number by number.

    **You will:**
    - see GoogLeNet as three parts: a conventional *stem* that shrinks the image, a *body* of nine
      Inception modules (3a ... 5b) on three grid sizes, and a tiny *head*;
    - recompute the paper's Table 1 (parameters and multiply-adds of every layer) and find the
      rows where the published table and its own channel numbers disagree;
    - add the two auxiliary classifiers and write their weighted training loss (Exercise 1);
    - compute how many parameters global average pooling saves over a fully connected head
      (Exercise 2);
    - check that our torchvision-layout GoogLeNet is torchvision's network, parameter for
      parameter, and list how torchvision differs from the paper;
    - train a mini GoogLeNet on 32x32 images on your CPU and compare it with a plain CNN of
      similar cost.

    **Run time:** about RUNTIME at `BUDGET="cpu"` on a 2-core laptop CPU (measured; the two
    training runs take most of it).
    """
)
nb.code(
    """
    BUDGET = "cpu"  # "cpu": minutes on a laptop CPU; "gpu": full-size runs on one GPU
    SEED = 0
    """,
    "parameters",
)
nb.code(
    """
    import math

    import matplotlib.pyplot as plt
    import torch
    import torchvision
    from torch import nn
    from torch.nn import functional as F

    from inception_lab import blocks, checks, data, models, profile, train, viz

    torch.manual_seed(SEED)
    """
)

# ----------------------------------------------------------------------------- 1. structure
nb.md(
    """
    ## 1. Stem, body, head

    An Inception module at full resolution would be far too expensive: on a 112x112 grid every
    one of its convolutions does 16 times the work it does on 28x28. So GoogLeNet starts like the
    networks before it, with a short **stem** of ordinary convolutions and max pools that takes
    the 224x224 image down to a 28x28 grid with 192 channels. Then comes the **body**: nine
    Inception modules in three stages, 3a-3b on 28x28, 4a-4e on 14x14 and 5a-5b on 7x7, with a
    stride-2 max pool between stages. Each time the grid halves, the modules get wider, so the
    network trades spatial detail for more feature channels. The **head** averages each of the
    1024 final channels over the 7x7 grid, applies dropout and one linear layer.

    `models.googlenet(variant="paper")` builds exactly this from `blocks.Inception`, with the
    channel numbers of the paper's Table 1 as constructor arguments. Here are its layers, with
    the shape of the tensor each one outputs (height x width x channels, as the paper writes it):
    """
)
nb.code(
    """
    # Built on PyTorch's "meta" device: exact shapes and counts, no memory, no arithmetic.
    with torch.device("meta"):
        googlenet = models.googlenet(variant="paper")
    table = profile.cost_table(googlenet, (3, 224, 224), weights_only=True)

    parts = {
        "stem": ["conv1", "maxpool1", "conv2", "conv3", "maxpool2"],
        "body": [n for n in table.names if n.startswith(("inception", "maxpool3", "maxpool4"))],
        "head": ["avgpool", "dropout", "fc"],
    }
    assert sum(map(len, parts.values())) == len(table)  # every layer in exactly one part
    for part, names in parts.items():
        print(f"{part}:")
        for name in names:
            row = table[name]
            print(f"    {name:<12} {row['type']:<17} -> {row['output_size']}")
    print("conv layers on the longest path from input to output:", table.total["depth"])
    """
)
nb.md(
    """
    The depth counted along the data path is 22 conv and linear layers (an Inception module
    counts 2: a 1x1 then a 3x3 or 5x5), the "22 layers deep" of the paper's title. Every module
    in a stage keeps the grid size; only the max pools between stages halve it (28 -> 14 -> 7).
    One Inception module, drawn from the same object the network uses:
    """
)
nb.code(
    """
    viz.draw_block(googlenet.inception3a, title="inception3a: 192 channels in, 256 out (28x28)")
    plt.show()
    """
)
nb.md(
    """
    Four branches read the same input; the 1x1 convs (yellow) shrink the channels before the
    3x3 and 5x5 convs and after the pool, and the four outputs are stacked along the channel axis.
    """
)

# ----------------------------------------------------------------------------- 2. Table 1
nb.md(
    """
    ## 2. Table 1, recomputed

    The paper's Table 1 lists, for every layer, its channel configuration and two costs: the
    number of parameters and the number of multiply-adds ("ops"). The channel columns define the
    network; the cost columns are arithmetic that follows from them. We count the costs from the
    model itself: weights only, like the paper (no biases), and MACs (multiply-accumulates) per
    224x224 image. One MAC is one multiply-add, which counts as 2 FLOPs.
    """
)
nb.code(
    """
    table
    """
)
nb.md(
    """
    Now the published numbers. They are typed in below exactly as printed in the paper, as data
    (they are not computed here). The paper has a single row for the second conv layer (depth 2:
    a 1x1 reduction to 64 channels, then a 3x3 conv to 192), which is our `conv2` plus `conv3`.
    """
)
nb.code(
    """
    # Szegedy et al. (2014), "Going Deeper with Convolutions", Table 1: the "params" column (in K)
    # and the "ops" column (multiply-adds, in M), as published.
    PAPER_TABLE1 = {
        "conv1": (2.7, 34),
        "conv2+conv3": (112, 360),
        "inception3a": (159, 128),
        "inception3b": (380, 304),
        "inception4a": (364, 73),
        "inception4b": (437, 88),
        "inception4c": (463, 100),
        "inception4d": (580, 119),
        "inception4e": (840, 170),
        "inception5a": (1072, 54),
        "inception5b": (1388, 71),
        "fc": (1000, 1),
    }


    def ours(name: str, column: str) -> int:
        \"\"\"Our count for a row of the paper's table ("conv2+conv3" adds two of our rows).\"\"\"
        return sum(table[part][column] for part in name.split("+"))


    # Which "K"? Compare the published params with our weight counts in both units.
    for k in (1000, 1024):
        ratios = sorted(p * k / ours(n, "params") for n, (p, _) in PAPER_TABLE1.items())
        median = ratios[len(ratios) // 2]
        print(f"K = {k}: median of paper / ours = {median:.3f}")
    """
)
nb.md(
    """
    With K = 1,000 the published parameter counts are typically about 2.5% below ours, every row
    in the same direction; with K = 1,024 (the "binary" K of computer memory) the typical
    row agrees to within 0.5%. So the params column seems to count in units of 1,024, and that
    is the unit we compare in. The ops column is in millions. Rounding to the printed digits
    explains small differences, so we say a published number *agrees* when it is within 1% of
    ours (or within half of its last printed digit, for short numbers such as "1M"), is *close*
    within 3%, and otherwise *DISAGREES*:
    """
)
nb.code(
    """
    def verdict(paper: float, computed: float, digit: float) -> tuple[float, str]:
        \"\"\"Relative difference, and whether it is within rounding (1%, or half the last digit).\"\"\"
        diff = paper / computed - 1
        rounding = max(0.01, 0.5 * digit / paper)
        return diff, "agrees" if abs(diff) <= rounding else "close" if abs(diff) < 0.03 else "DISAGREES"


    print(f"{'layer':<12}{'our weights':>12}{'= K':>7}{'paper':>7}{'':>17}"
          f"{'our MACs':>13}{'paper':>7}")
    disagree = []
    for name, (paper_k, paper_m) in PAPER_TABLE1.items():
        weights, macs = ours(name, "params"), ours(name, "macs")
        digit = 0.1 if paper_k % 1 else 1  # the last printed digit of "2.7K" is 0.1K
        dp, vp = verdict(paper_k, weights / 1024, digit)
        dm, vm = verdict(paper_m, macs / 1e6, 1)
        print(f"{name:<12}{weights:>12,}{weights / 1024:>7.1f}{paper_k:>6}K {dp:+6.1%} {vp:<9}"
              f"{macs / 1e6:>12.1f}M{paper_m:>6}M {dm:+6.1%} {vm}")
        disagree += [f"{name} {col}" for col, v in (("params", vp), ("ops", vm)) if v != "agrees"]
    print()
    print("not in agreement:", ", ".join(disagree))
    print(f"total: {table.total['params']:,} weights, {table.total['macs'] / 1e9:.3f} G MACs")
    print()
    # For a layer, ops = weights x output positions; do a row's own two cells agree?
    for name, positions in (("conv1", 112 * 112), ("inception4c", 14 * 14), ("inception5a", 7 * 7)):
        paper_k, paper_m = PAPER_TABLE1[name]
        implied = paper_k * 1024 * positions / 1e6
        print(f"{name}: paper params x {positions:,} positions = {implied:.1f}M; paper ops: {paper_m}M")
    """
)
nb.md(
    """
    Most of the table is reproduced by the arithmetic: the ops of every Inception module except
    5a, and the params of `conv2+conv3`, 3a, 3b, 4a, 4b, 4e and the classifier, to within 1%.
    The rows that do not agree, and what the arithmetic gives instead:

    - **conv1**, listed as 2.7K params and 34M ops. A 7x7 conv from 3 to 64 channels has
      7 x 7 x 3 x 64 = 9,408 weights, and on its 112x112 output that is 118.0M MACs. The two
      published numbers agree with *each other* (2.7K x 112 x 112 = 34.7M), so the ops were
      derived from a parameter count that does not fit this layer.
    - **inception 5a**, listed as 1072K and 54M. Its channel columns give 1,042,432 weights
      (1,018K) and 51.1M MACs. Again the two published numbers agree with each other
      (1072K x 7 x 7 = 53.8M) but not with the module's own channel numbers.
    - **inception 4c** (463K listed, 497.5K computed) and, by smaller margins, **4d** and **5b**:
      their ops match the arithmetic but their params do not, so the two cells of one row
      contradict each other (463K x 14 x 14 would be 92.9M ops, not the listed 100M): these are
      slips in the params column.

    The lesson: a published table is a claim, the channel configuration is the network. Every
    implementation (torchvision's included) follows the channel columns, and the totals above
    (6,990,272 weights, 1.583 G MACs) are what they give. The paper's text budgets "about 1.5
    billion multiply-adds" at inference, which our count agrees with.

    Where do the parameters and the work actually sit? (This figure counts all parameters,
    biases included.)
    """
)
nb.code(
    """
    def share(names, column):
        return sum(table[n][column] for n in names) / table.total[column]


    late = ["inception5a", "inception5b", "fc"]
    print(f"stem:         {share(parts['stem'], 'macs'):4.0%} of the MACs, "
          f"{share(parts['stem'], 'params'):4.0%} of the weights")
    print(f"body:         {share(parts['body'], 'macs'):4.0%} of the MACs, "
          f"{share(parts['body'], 'params'):4.0%} of the weights")
    print(f"5a + 5b + fc: {share(late, 'macs'):4.0%} of the MACs, {share(late, 'params'):4.0%} of the weights")
    viz.plot_layer_costs(googlenet, (3, 224, 224))
    plt.show()
    """
)
nb.md(
    """
    The costs are lopsided in opposite directions. The stem has few weights but works on large
    grids, so it does 30% of all multiply-adds; the last two modules and the classifier work on
    a tiny 7x7 grid but hold half of the weights. This is the general rule of CNN cost: a
    layer's MACs are its weights times the number of output positions, so early layers are
    expensive to run and late layers expensive to store.
    """
)

# ----------------------------------------------------------------------------- 3. aux heads
nb.md(
    """
    ## 3. Two extra classifiers for training

    In 2014, training a 22-layer network without batch normalization was a real worry: the
    gradient that reaches the early layers passes back through many layers first and may be
    weak. GoogLeNet adds two small **auxiliary classifiers** on intermediate feature maps, after
    inception 4a and 4d. Each one is a complete little network head: a 5x5/3 average pool (14x14
    -> 4x4), a 1x1 conv to 128 channels, a 1024-unit fully connected layer, dropout 0.7, and a
    linear layer to the 1000 classes. During training their losses are added to the main loss
    with a weight of **0.3** each, so they push gradient directly into the middle of the
    network; at inference they are dropped. (The v3 paper later found that they act mainly as
    regularizers; lesson 4 comes back to this.)

    In our models, `aux_logits=True` attaches them. In training mode the model returns a tuple
    `(logits, aux1, aux2)`, main head first; in evaluation mode only the logits:
    """
)
nb.code(
    """
    torch.manual_seed(SEED)
    with_aux = models.googlenet(variant="paper", aux_logits=True)
    x = torch.randn(2, 3, 224, 224)
    with_aux.train()
    outputs = with_aux(x)
    print("train mode:", [tuple(o.shape) for o in outputs])
    with_aux.eval()
    print("eval mode: ", tuple(with_aux(x).shape))
    aux_params = profile.count_params(with_aux.aux1) + profile.count_params(with_aux.aux2)
    main_params = profile.count_params(googlenet)
    print(f"aux heads: {aux_params:,} parameters; the main network: {main_params:,}")
    """
)
nb.md(
    """
    The two heads together hold almost as many parameters as the whole network they help
    (their 2048 -> 1024 fully connected layers are the bulk), yet they cost nothing at
    inference, because eval mode skips them.

    **Exercise 1.** Build the two heads for the paper's GoogLeNet with `blocks.AuxClassifier(
    in_ch, num_classes)`: `in_ch` is the number of channels the module it sits on outputs (look
    at the table above), and `num_classes=1000`. Then write the training loss:
    `googlenet_loss(outputs, labels, aux_weight=0.3)` gets either a tuple `(logits, aux1, aux2,
    ...)` (training mode) or a plain logits tensor (eval mode) and returns one scalar tensor:
    the cross-entropy of the main head plus `aux_weight` times the cross-entropy of each
    auxiliary head. Use `F.cross_entropy(logits, labels)`.
    """
)
nb.code(
    """
    # Exercise 1: create aux_4a and aux_4d, and write googlenet_loss
    ### BEGIN SOLUTION
    aux_4a = blocks.AuxClassifier(512, num_classes=1000)
    aux_4d = blocks.AuxClassifier(528, num_classes=1000)


    def googlenet_loss(outputs, labels, aux_weight=0.3):
        if isinstance(outputs, torch.Tensor):  # eval mode: the main head only
            return F.cross_entropy(outputs, labels)
        logits, *aux = outputs
        loss = F.cross_entropy(logits, labels)
        for aux_logits in aux:
            loss = loss + aux_weight * F.cross_entropy(aux_logits, labels)
        return loss
    ### END SOLUTION


    checks.auxiliary_training(aux_4a, aux_4d, googlenet_loss)
    """
)
nb.md(
    """
    Your loss on the outputs of the network above, for random labels, next to each head's own
    cross-entropy and the course's training engine, which uses the same formula
    (`train.training_loss`):
    """
)
nb.code(
    """
    labels = torch.tensor([3, 7])
    main, aux1, aux2 = (F.cross_entropy(o, labels).item() for o in outputs)
    mine = googlenet_loss(outputs, labels).item()
    engine = train.training_loss(outputs, labels, aux_weight=0.3)[0].item()
    print(f"main {main:.3f}, aux1 {aux1:.3f}, aux2 {aux2:.3f}")
    print(f"main + 0.3 x (aux1 + aux2) = {main + 0.3 * (aux1 + aux2):.3f}")
    print(f"googlenet_loss: {mine:.3f}   train.training_loss: {engine:.3f}")
    print(f"cross-entropy of a uniform guess among 1000 classes: ln(1000) = {math.log(1000):.2f}")
    assert abs(mine - engine) < 1e-4
    """
)
nb.md(
    """
    An untrained network guesses uniformly among 1000 classes, so every head starts near
    ln(1000) = 6.9, and the total near (1 + 0.3 + 0.3) x 6.9 = 11. As training goes on, the auxiliary terms
    keep pulling the middle layers toward features that already separate the classes.
    """
)

# ----------------------------------------------------------------------------- 4. GAP head
nb.md(
    """
    ## 4. The head: global average pooling instead of a big fully connected layer

    AlexNet and VGG flatten their last feature map and feed every value into fully connected
    layers. GoogLeNet follows Network in Network instead: it averages each channel over the whole
    grid (*global average pooling*, GAP), so the 7x7x1024 map becomes 1024 numbers, and only then
    applies one linear layer. GAP has no parameters at all, and the paper reports that moving
    from fully connected layers to average pooling improved top-1 accuracy by about 0.6%. It also
    makes the head independent of the input size: a larger image gives a larger grid, and the
    average is still 1024 numbers.

    **Exercise 2.** Write two functions that count parameters (weights and biases):
    `fc_head_params(channels, height, width, num_classes)` for one linear layer on the flattened
    map, and `gap_head_params(channels, num_classes)` for global average pooling followed by one
    linear layer.
    """
)
nb.code(
    """
    # Exercise 2: write fc_head_params and gap_head_params
    ### BEGIN SOLUTION
    def fc_head_params(channels, height, width, num_classes):
        inputs = channels * height * width  # every value of the flattened map
        return inputs * num_classes + num_classes


    def gap_head_params(channels, num_classes):
        return channels * num_classes + num_classes  # the pooling itself has no parameters
    ### END SOLUTION


    checks.head_params(fc_head_params, gap_head_params)
    """
)
nb.code(
    """
    fc_head = fc_head_params(1024, 7, 7, 1000)
    gap_head = gap_head_params(1024, 1000)
    print(f"flatten + FC head: {fc_head:>12,} parameters")
    print(f"GAP + FC head:     {gap_head:>12,} parameters")
    print(f"saving:            {fc_head - gap_head:>12,} parameters ({fc_head / gap_head:.0f}x fewer)")
    rest = main_params - gap_head
    print(f"the rest of GoogLeNet: {rest:,} parameters; the flatten + FC head alone would be "
          f"{fc_head / rest:.1f}x that")
    """
)
nb.md(
    """
    The fully connected head would need 49 times as many parameters (one weight per class for each
    of the 7 x 7 = 49 positions of every channel): 50 million, 8.4 times the whole rest of the
    network. GAP removes 49,152,000 parameters, and the overfitting they would invite.
    """
)

# ----------------------------------------------------------------------------- 5. torchvision
nb.md(
    """
    ## 5. Our GoogLeNet and torchvision's

    torchvision ships a GoogLeNet too (`torchvision.models.googlenet`), and learners often find
    that its parameter count matches neither the paper nor other implementations.
    `models.googlenet(variant="torchvision")` rebuilds torchvision's layout from our blocks. We
    count both live (torchvision's is built without downloading any weights), with and without
    the auxiliary heads:
    """
)
nb.code(
    """
    torch.manual_seed(SEED)
    ours_tv = models.googlenet(variant="torchvision", aux_logits=True)
    theirs = torchvision.models.googlenet(weights=None, aux_logits=True, init_weights=False)
    for name, model in (("inception_lab", ours_tv), ("torchvision", theirs)):
        total = profile.count_params(model)
        heads = profile.count_params(model.aux1) + profile.count_params(model.aux2)
        print(f"{name:<14} with aux heads {total:>12,}   without {total - heads:>11,}")
    assert profile.count_params(ours_tv) == profile.count_params(theirs) == 13_004_888
    """
)
nb.md(
    """
    Equal counts could still hide a different arrangement. A stronger test: copy torchvision's
    (randomly initialized) weights into our model and compare the outputs on the same image.
    """
)
nb.code(
    """
    models.load_torchvision_state_dict(ours_tv, theirs.state_dict())
    ours_tv.eval()
    theirs.eval()
    with torch.no_grad():
        image = torch.randn(1, 3, 224, 224)
        difference = (ours_tv(image) - theirs(image)).abs().max().item()
    print(f"largest difference between the two networks' 1000 outputs: {difference:.1e}")
    assert difference < 1e-4
    """
)
nb.md(
    """
    Same tensors, same function: our blocks are torchvision's GoogLeNet. Yet torchvision's
    network (6,624,904 parameters without aux heads) is not the paper's (the paper layout above):
    """
)
nb.code(
    """
    with torch.device("meta"):
        tv_layout = models.googlenet(variant="torchvision")
    print(f"{'layer':<12}{'paper layout':>14}{'torchvision':>13}{'difference':>12}")
    for (name, a), (_, b) in zip(googlenet.named_children(), tv_layout.named_children()):
        pa, pb = profile.count_params(a), profile.count_params(b)
        if pa or pb:
            print(f"{name:<12}{pa:>14,}{pb:>13,}{pb - pa:>+12,}")
    print(f"{'total':<12}{profile.count_params(googlenet):>14,}{profile.count_params(tv_layout):>13,}"
          f"{profile.count_params(tv_layout) - profile.count_params(googlenet):>+12,}")
    branch = tv_layout.inception3a.branches["branch5x5"][1].conv
    print("torchvision's inception3a 'branch5x5' conv:", branch)
    """
)
nb.md(
    """
    torchvision differs from the paper in these ways (all visible in its source and in the
    counts above):

    - **BatchNorm** after every convolution, with `bias=False` convs (BN's shift makes the bias
      redundant). BN was published after GoogLeNet; it adds 2 parameters per channel and removes
      1 bias, so the stem's rows grow slightly.
    - **A 3x3 kernel in the "5x5" branch.** The branch keeps its name, but its conv is 3x3, a
      known quirk kept so that torchvision's pretrained weights still load. This is why every
      Inception module is smaller in torchvision (9 instead of 25 weights per channel pair in
      that branch), and why the total is 373,648 lower than the paper's.
    - **No local response normalization** (the paper uses LRN in the stem).
    - **Pooling details**: max pools with `ceil_mode=True`, and a 2x2 instead of 3x3 max pool
      before 5a; neither changes the parameter count.
    - **Head and auxiliary heads**: dropout 0.2 instead of 0.4; the auxiliary heads pool
      adaptively to 4x4 and have a BN'd 1x1 conv.

    None of this is wrong; it is a different network with the same name. When you compare
    numbers between implementations, compare the same network.
    """
)

# ----------------------------------------------------------------------------- 6. training
nb.md(
    """
    ## 6. Training a mini GoogLeNet on your CPU

    A full GoogLeNet needs ImageNet and days of GPU time. `models.mini_googlenet` keeps its
    structure, the nine modules 3a ... 5b in three stages with their names and order, at about a
    quarter of the widths, for 32x32 images: the grid goes 32 -> 16 -> 8 -> 4 where GoogLeNet's
    goes 28 -> 14 -> 7. We train it with its two auxiliary heads and the 0.3 weight of Exercise 1
    (`train.fit` uses the same loss).

    One change from the paper: we switch on batch normalization (`bn=True`, as in torchvision's
    layout). Without it, a network this deep needs far more steps than a CPU minute gives before
    its loss even starts to fall (the paper's network trained for days); lesson 5 is about why
    BN changes that.

    The question of this section: is the Inception module better than a plain stack of 3x3
    convs at a similar cost? `models.mini_baseline` is that control: the same grids, one 3x3 conv
    where the mini GoogLeNet has a module, also with BN. First the data and the costs:
    """
)
nb.code(
    """
    EPOCHS = {"cpu": 4, "gpu": 30}[BUDGET]
    TRAIN_SIZE = {"cpu": 3000, "gpu": None}[BUDGET]  # None: all 10,000 training images
    WIDTH = {"cpu": 1.0, "gpu": 2.0}[BUDGET]
    BATCH = 64

    device = train.pick_device(verbose=False)
    loaders = data.make_loaders("shapes", batch_size=BATCH, seed=SEED, train_size=TRAIN_SIZE,
                                val_size=500, device=device)
    print(f"{loaders.num_classes} classes: {', '.join(loaders.class_names)}")
    print(f"{loaders.in_channels}x{loaders.image_size}x{loaders.image_size} images; "
          f"{len(loaders.train)} training batches of {BATCH} per epoch, {EPOCHS} epochs")


    def make(name):
        torch.manual_seed(SEED)
        kw = {"aux_logits": True} if name == "mini_googlenet" else {}
        return models.build(name, num_classes=loaders.num_classes, width=WIDTH, bn=True, **kw)


    minis = {name: make(name) for name in ("mini_googlenet", "mini_baseline")}
    size = (loaders.in_channels, loaders.image_size, loaders.image_size)
    for name, model in minis.items():
        heads = sum(profile.count_params(getattr(model, h)) for h in ("aux1", "aux2") if hasattr(model, h))
        print(f"{name:<15} {profile.count_params(model) - heads:>9,} parameters"
              f"{f' (+{heads:,} in aux heads)' if heads else '':<24}"
              f"{profile.count_macs(model, size) / 1e6:6.1f} M MACs per image")
    """
)
nb.md(
    """
    The mini GoogLeNet has fewer parameters and fewer MACs than the baseline (the auxiliary
    heads are extra weights for training only, and eval mode, which the MAC count uses, skips
    them). Now train each for the same number of epochs on the same batches, with AdamW and a
    one-cycle learning-rate schedule (fast and forgiving for short runs). The bars show live
    progress; the lines give each epoch's losses, accuracies and speed.
    """
)
nb.code(
    """
    histories = {}
    for name, model in minis.items():
        print(f"--- {name}")
        histories[name] = train.fit(model, loaders, EPOCHS, optimizer="adamw", seed=SEED)
    assert all(len(h.records) == EPOCHS and h.diverged is None for h in histories.values())
    """,
    "nbval-ignore-output",
)
nb.code(
    """
    results = {name: train.evaluate(model, loaders.test) for name, model in minis.items()}
    for name, result in results.items():
        seconds = sum(r["seconds"] for r in histories[name].records)
        print(f"{name:<15} test accuracy {result['acc']:.1%} on {result['n']:,} images; "
              f"{seconds:.0f} s of training")
    assert all(r["acc"] > 0.2 for r in results.values())  # well above chance (10%)
    """,
    "nbval-ignore-output",
)
nb.code(
    """
    viz.plot_history(histories)
    plt.suptitle("mini GoogLeNet versus a plain 3x3 CNN of similar cost (shapes, 32x32)")
    plt.show()
    """
)
nb.md(
    """
    RESULTS_PROSE
    """
)

# ----------------------------------------------------------------------------- summary
nb.md(
    """
    ## Summary

    - GoogLeNet is a **stem** (ordinary convs and pools, 224 -> 28), a **body** of nine
      Inception modules on 28x28, 14x14 and 7x7 grids, and a **head** of global average
      pooling, dropout and one linear layer: 22 layers deep, 6,990,272 weights and 1.583 G MACs
      (about the paper's 1.5 billion multiply-adds).
    - The paper's Table 1 is reproduced by the arithmetic for most rows; conv1 and 5a (both
      columns), and the params of 4c, 4d and 5b, are not. Trust the channel configuration, and
      say which unit you count in.
    - The **auxiliary classifiers** on 4a and 4d add 0.3 x their cross-entropy to the training
      loss and are dropped at inference.
    - **Global average pooling** makes the head 49x smaller than a fully connected one on the
      7x7x1024 map.
    - torchvision's GoogLeNet (6,624,904 parameters without aux heads) is our
      `variant="torchvision"` exactly; it differs from the paper by BN, a 3x3 kernel in the
      "5x5" branch, no LRN and pooling details.

    **Next:** `04_factorization.ipynb` follows the Inception family to v3, which makes each
    module cheaper still by factorizing its convolutions: a 5x5 becomes two 3x3s, a 7x7 becomes
    a 1x7 and a 7x1, and the grid is shrunk without a representational bottleneck.
    """
)

nb.write("/work/main/notebooks/03_googlenet.ipynb")
print("wrote notebooks/03_googlenet.ipynb")
