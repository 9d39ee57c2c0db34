from mmattn.analysis.params import catalog_params, catalog_params_markdown, classifier_stages


def test_catalog_params_reproduces_the_papers_counts():
    rows = {r['module']: r for r in catalog_params(['SE', 'ECA', 'DANetCAM'])}
    assert rows['ResNet-50 (no module)']['resnet50_params'] == 25_557_032
    # SE-ResNet-50: 28.09 M in the paper, SE in every bottleneck.
    assert rows['SE']['resnet50_params'] == 28_088_024
    assert rows['SE']['stages'] == '1111' and rows['SE']['module_params'] == 8_464
    # ECA adds a handful of 1D-conv taps per block.
    assert abs(rows['ECA']['resnet50_params'] / 25_557_032 - 1) < 0.005
    # Stage-4-only modules stay there: one gamma per block of stage 4.
    assert rows['DANetCAM']['stages'] == '0001' and rows['DANetCAM']['added'] == 3
    text = catalog_params_markdown(list(rows.values()))
    assert '| SE | after_conv3 | 1111 | 8,464 | 28,088,024 (28.09 M) | 2,530,992 |' in text


def test_classifier_stages():
    assert classifier_stages((False, True, True, True)) == (True, True, True, True)
    assert classifier_stages((False, False, False, True)) == (False, False, False, True)
